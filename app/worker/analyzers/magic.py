"""File types from their first bytes: a small table of signatures, most specific first."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileType:
    label: str  # what an analyst reads: "PE executable", "PDF document"
    mime: str
    kind: str  # a family to filter on: executable, document, archive, image, script, text, data
    detail: dict[str, str | int]


@dataclass(frozen=True, slots=True)
class Signature:
    offset: int
    magic: bytes
    label: str
    mime: str
    kind: str


# Each signature at its offset; the first match wins, so longer or more specific ones come first.
# Executables, archives and containers get a closer look in `identify` (PE header, ELF class,
# what is inside a ZIP).
SIGNATURES: tuple[Signature, ...] = (
    Signature(
        0, b"MZ", "DOS/PE executable", "application/vnd.microsoft.portable-executable", "executable"
    ),
    Signature(0, b"\x7fELF", "ELF executable", "application/x-executable", "executable"),
    Signature(
        0,
        b"\xcf\xfa\xed\xfe",
        "Mach-O executable (64-bit)",
        "application/x-mach-binary",
        "executable",
    ),
    Signature(
        0,
        b"\xce\xfa\xed\xfe",
        "Mach-O executable (32-bit)",
        "application/x-mach-binary",
        "executable",
    ),
    Signature(0, b"%PDF-", "PDF document", "application/pdf", "document"),
    Signature(
        0,
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "OLE2 compound document (legacy MS Office)",
        "application/x-ole-storage",
        "document",
    ),
    Signature(0, b"{\\rtf", "RTF document", "application/rtf", "document"),
    Signature(0, b"PK\x03\x04", "ZIP archive", "application/zip", "archive"),
    Signature(0, b"PK\x05\x06", "ZIP archive (empty)", "application/zip", "archive"),
    Signature(0, b"\x1f\x8b", "GZIP compressed data", "application/gzip", "archive"),
    Signature(0, b"7z\xbc\xaf\x27\x1c", "7-Zip archive", "application/x-7z-compressed", "archive"),
    Signature(0, b"Rar!\x1a\x07", "RAR archive", "application/vnd.rar", "archive"),
    Signature(0, b"BZh", "BZIP2 compressed data", "application/x-bzip2", "archive"),
    Signature(0, b"\xfd7zXZ\x00", "XZ compressed data", "application/x-xz", "archive"),
    Signature(257, b"ustar", "TAR archive", "application/x-tar", "archive"),
    Signature(0, b"\x89PNG\r\n\x1a\n", "PNG image", "image/png", "image"),
    Signature(0, b"\xff\xd8\xff", "JPEG image", "image/jpeg", "image"),
    Signature(0, b"GIF87a", "GIF image", "image/gif", "image"),
    Signature(0, b"GIF89a", "GIF image", "image/gif", "image"),
    Signature(0, b"#!", "script", "text/x-script", "script"),
)

# Inside a ZIP, these names tell what the container really is.
_ZIP_KINDS = (
    (
        "word/",
        "Word document (OOXML)",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "xl/",
        "Excel workbook (OOXML)",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        "ppt/",
        "PowerPoint presentation (OOXML)",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
)
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\b\x1b")


def identify(content: bytes) -> FileType:
    if not content:
        return FileType("empty", "application/x-empty", "data", {})
    for sig in SIGNATURES:
        if content[sig.offset : sig.offset + len(sig.magic)] == sig.magic:
            found = FileType(sig.label, sig.mime, sig.kind, {})
            return _CLOSER_LOOK.get(sig.magic, _as_is)(content, found)
    if _is_text(content):
        return FileType("text", "text/plain", "text", {})
    return FileType("data", "application/octet-stream", "data", {})


def _as_is(_: bytes, found: FileType) -> FileType:
    return found


def _pe(content: bytes, found: FileType) -> FileType:
    """MZ alone is a DOS stub; a PE file has "PE\\0\\0" where e_lfanew (offset 0x3C) points."""
    if len(content) >= 0x40:
        start = int.from_bytes(content[0x3C:0x40], "little")
        if content[start : start + 4] == b"PE\x00\x00":
            machine = int.from_bytes(content[start + 4 : start + 6], "little")
            arch = {0x14C: "i386", 0x8664: "x86-64", 0xAA64: "arm64"}.get(machine, hex(machine))
            return FileType("PE executable", found.mime, found.kind, {"machine": arch})
    return FileType("DOS executable (MZ, no PE header)", "application/x-dosexec", found.kind, {})


def _elf(content: bytes, found: FileType) -> FileType:
    bits = {1: 32, 2: 64}.get(content[4] if len(content) > 4 else 0)
    if bits is None:
        return found
    return FileType(f"ELF {bits}-bit executable", found.mime, found.kind, {"class": bits})


def _pdf(content: bytes, found: FileType) -> FileType:
    version = content[5:8].decode("ascii", "replace")
    return FileType(found.label, found.mime, found.kind, {"version": version})


def _zip(content: bytes, found: FileType) -> FileType:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return FileType("ZIP archive (damaged)", found.mime, found.kind, {})
    detail: dict[str, str | int] = {"entries": len(names)}
    if "[Content_Types].xml" in names:
        for prefix, label, mime in _ZIP_KINDS:
            if any(name.startswith(prefix) for name in names):
                return FileType(label, mime, "document", detail)
    if "META-INF/MANIFEST.MF" in names:
        return FileType("Java archive (JAR)", "application/java-archive", "archive", detail)
    return FileType(found.label, found.mime, found.kind, detail)


def _script(content: bytes, found: FileType) -> FileType:
    line = content[2:].split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    parts = line.split()
    # "#!/usr/bin/env python3" names its interpreter after env; "#!/bin/sh" in the path.
    interpreter = parts[1] if len(parts) > 1 and parts[0].endswith("/env") else line
    name = interpreter.rsplit("/", 1)[-1].split()[0] if interpreter else "unknown"
    return FileType(f"{name} script", found.mime, found.kind, {"interpreter": line})


_CLOSER_LOOK = {b"MZ": _pe, b"\x7fELF": _elf, b"%PDF-": _pdf, b"PK\x03\x04": _zip, b"#!": _script}


def _is_text(content: bytes) -> bool:
    """UTF-8 without control characters other than the usual whitespace (first 64 KiB)."""
    sample = content[:65536]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 3:  # a sequence cut at the sample's end is fine
            return False
    return all(byte >= 0x20 or byte in _TEXT_CONTROLS for byte in sample if byte < 0x80)
