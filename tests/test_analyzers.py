"""The built-in analyzers as pure functions: no server, no database, no network."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from app.worker.analyzers import BUILT_INS, AnalyzerInputError, Level, Observable, Report
from app.worker.analyzers.file_info import EICAR, is_eicar, shannon_entropy
from app.worker.analyzers.magic import identify

SEEDS = Path(__file__).resolve().parents[1] / "seeds" / "files"


def file_info(content: bytes, filename: str | None = None) -> Report:
    return BUILT_INS["File_Info"].run(Observable("file", content=content, filename=filename))


def classify(data_type: str, data: str) -> Report:
    return BUILT_INS["Observable_Classifier"].run(Observable(data_type, data))


def taxonomy(report: Report, predicate: str) -> tuple[Level, str]:
    [found] = [(t.level, t.value) for t in report.taxonomies if t.predicate == predicate]
    return found


# --- File_Info ---------------------------------------------------------------------------------


def test_eicar_file_is_malicious_with_its_known_hashes() -> None:
    report = file_info((SEEDS / "eicar.com").read_bytes(), "eicar.com")
    assert taxonomy(report, "EICAR") == (Level.MALICIOUS, "EICAR-Test-File")
    assert report.verdict is Level.MALICIOUS
    assert report.full["md5"] == "44d88612fea8a8f36de82e1278abb02f"  # the published EICAR md5
    assert report.full["sha256"] == (
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
    )
    assert report.full["size"] == 68 and report.full["filename"] == "eicar.com"
    assert [(a.data_type, a.data) for a in report.artifacts] == [("hash", report.full["sha256"])]


def test_eicar_allows_trailing_whitespace_only_up_to_128_bytes() -> None:
    assert is_eicar(EICAR + b"\r\n") and is_eicar(EICAR + b" " * 60)
    assert not is_eicar(EICAR + b" " * 61)  # 129 bytes
    assert not is_eicar(EICAR + b"x")
    assert not is_eicar(b" " + EICAR)


def test_other_files_have_no_malicious_verdict() -> None:
    report = file_info(b"hello world\n")
    assert report.verdict is Level.INFO
    assert {t.predicate for t in report.taxonomies} == {"Filetype", "Size", "Entropy"}
    assert report.full["sha1"] == hashlib.sha1(b"hello world\n").hexdigest()
    assert report.full["md5"] == hashlib.md5(b"hello world\n").hexdigest()
    assert taxonomy(report, "Size") == (Level.INFO, "12 bytes")


def pe_file(machine: int = 0x8664) -> bytes:
    header = bytearray(b"MZ" + bytes(0x3A) + (0x80).to_bytes(4, "little"))
    header += bytes(0x80 - len(header)) + b"PE\x00\x00" + machine.to_bytes(2, "little")
    return bytes(header) + bytes(64)


def zipped(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "label", "kind"),
    [
        (pe_file(), "PE executable", "executable"),
        (b"MZ" + bytes(100), "DOS executable (MZ, no PE header)", "executable"),
        (b"\x7fELF\x02\x01\x01" + bytes(60), "ELF 64-bit executable", "executable"),
        (b"\x7fELF\x01\x01\x01" + bytes(60), "ELF 32-bit executable", "executable"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document", "document"),
        (zipped(["a.txt"]), "ZIP archive", "archive"),
        (zipped(["[Content_Types].xml", "word/document.xml"]), "Word document (OOXML)", "document"),
        (zipped(["[Content_Types].xml", "xl/workbook.xml"]), "Excel workbook (OOXML)", "document"),
        (zipped(["META-INF/MANIFEST.MF", "A.class"]), "Java archive (JAR)", "archive"),
        (b"PK\x03\x04 truncated", "ZIP archive (damaged)", "archive"),
        (gzip.compress(b"abc"), "GZIP compressed data", "archive"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "PNG image", "image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image", "image"),
        (b"GIF89a\x01\x00", "GIF image", "image"),
        (b"#!/usr/bin/env python3\nprint(1)\n", "python3 script", "script"),
        (b"#!/bin/sh\necho hi\n", "sh script", "script"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8),
            "OLE2 compound document (legacy MS Office)",
            "document",
        ),
        ("plain text, caf\u00e9\n".encode(), "text", "text"),
        (bytes(range(256)), "data", "data"),
        (b"", "empty", "data"),
    ],
)
def test_file_types_from_magic_bytes(content: bytes, label: str, kind: str) -> None:
    found = identify(content)
    assert (found.label, found.kind) == (label, kind)
    assert taxonomy(file_info(content), "Filetype") == (Level.INFO, label)


def test_type_details() -> None:
    assert identify(pe_file(0x14C)).detail == {"machine": "i386"}
    assert identify(b"%PDF-1.4\n").detail == {"version": "1.4"}
    assert identify(zipped(["a", "b", "c"])).detail == {"entries": 3}
    assert file_info(pe_file()).full["type"]["machine"] == "x86-64"


def test_entropy_bounds() -> None:
    assert shannon_entropy(b"") == 0.0
    assert shannon_entropy(b"a" * 1000) == 0.0
    assert shannon_entropy(bytes(range(256)) * 4) == pytest.approx(8.0)
    assert shannon_entropy(b"ab" * 50) == pytest.approx(1.0)
    assert file_info(bytes(range(256))).full["entropy"] == 8.0


def test_file_info_refuses_what_is_not_a_file() -> None:
    with pytest.raises(AnalyzerInputError):
        BUILT_INS["File_Info"].run(Observable("ip", "8.8.8.8"))


# --- Observable_Classifier ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("8.8.8.8", "IPv4 global"),
        ("10.1.2.3", "IPv4 private"),
        ("192.168.0.1", "IPv4 private"),
        ("127.0.0.1", "IPv4 loopback"),
        ("169.254.1.1", "IPv4 link-local"),
        ("224.0.0.251", "IPv4 multicast"),
        ("0.0.0.0", "IPv4 unspecified"),
        ("203.0.113.77", "IPv4 documentation"),
        ("100.64.1.1", "IPv4 shared (carrier-grade NAT)"),
        ("240.0.0.1", "IPv4 reserved"),
        ("2606:4700:4700::1111", "IPv6 global"),
        ("::1", "IPv6 loopback"),
        ("fe80::1", "IPv6 link-local"),
        ("fd00::1", "IPv6 private"),
        ("ff02::1", "IPv6 multicast"),
        ("2001:db8::1", "IPv6 documentation"),
        ("::ffff:192.168.0.1", "IPv6 IPv4-mapped (private)"),
    ],
)
def test_ip_address_classes(address: str, label: str) -> None:
    assert taxonomy(classify("ip", address), "IP") == (Level.INFO, label)


def test_ip_full_report_and_mapped_artifact() -> None:
    report = classify("ip", " 2001:DB8:0:0::1 ")
    assert report.full["address"] == "2001:db8::1" and report.full["version"] == 6
    assert report.full["exploded"] == "2001:0db8:0000:0000:0000:0000:0000:0001"
    assert report.artifacts == []
    mapped = classify("ip", "::ffff:8.8.8.8")
    assert [(a.data_type, a.data) for a in mapped.artifacts] == [("ip", "8.8.8.8")]
    assert classify("ip", "8.8.4.4").full["reversePointer"] == "4.4.8.8.in-addr.arpa"


def test_domains_idn_and_tld() -> None:
    report = classify("domain", "Bücher.Example")
    assert report.full["name"] == "xn--bcher-kva.example"
    assert report.full["unicode"] == "bücher.example"
    assert report.full["idn"] and report.full["tld"] == "example"
    assert taxonomy(report, "IDN") == (Level.INFO, "bücher.example")
    assert taxonomy(report, "SpecialUse") == (Level.INFO, ".example")
    plain = classify("domain", "google.com")
    assert taxonomy(plain, "Domain") == (Level.INFO, "2 labels, TLD .com")
    assert plain.verdict is Level.INFO and not plain.full["idn"]


def test_mixed_script_label_is_a_suspicious_homograph() -> None:
    report = classify("domain", "xn--pypal-4ve.com")  # "pаypal" with a Cyrillic а
    assert report.full["unicode"] == "p\u0430ypal.com"
    assert taxonomy(report, "Homograph") == (Level.SUSPICIOUS, "p\u0430ypal: CYRILLIC+LATIN")
    assert report.verdict is Level.SUSPICIOUS


def test_fqdn_labels_and_trailing_dot() -> None:
    report = classify("fqdn", "mail.examp1e-payments.com.")
    assert report.full["labels"] == ["mail", "examp1e-payments", "com"]
    assert taxonomy(report, "FQDN") == (Level.INFO, "3 labels, TLD .com")


def test_url_parts_and_host_artifact() -> None:
    report = classify("url", "https://login-microsoftonline.support:8443/owa/auth.php?a=1&b=#top")
    assert report.full["scheme"] == "https" and report.full["port"] == 8443
    assert report.full["path"] == "/owa/auth.php" and report.full["fragment"] == "top"
    assert report.full["query"] == [["a", "1"], ["b", ""]]
    assert [(a.data_type, a.data) for a in report.artifacts] == [
        ("domain", "login-microsoftonline.support")
    ]
    assert report.verdict is Level.INFO


def test_url_with_ip_host_idn_host_and_userinfo() -> None:
    v6 = classify("url", "http://[2001:db8::1]/x")
    assert [(a.data_type, a.data) for a in v6.artifacts] == [("ip", "2001:db8::1")]
    idn = classify("url", "https://bücher.example/")
    assert [(a.data_type, a.data) for a in idn.artifacts] == [("domain", "xn--bcher-kva.example")]
    tricked = classify("url", "https://bank.example:secret@evil.example/login")
    assert taxonomy(tricked, "Userinfo") == (Level.SUSPICIOUS, "evil.example")
    assert tricked.full["hasPassword"] and "secret" not in str(tricked.full)


def test_mail_local_part_tag_and_domain_artifact() -> None:
    report = classify("mail", "ceo+invoices@acme.example")
    assert report.full == {
        "localPart": "ceo+invoices",
        "domain": "acme.example",
        "domainType": "domain",
        "tag": "invoices",
    }
    assert [(a.data_type, a.data) for a in report.artifacts] == [("domain", "acme.example")]
    literal = classify("mail", "root@[10.0.0.1]")
    assert [(a.data_type, a.data) for a in literal.artifacts] == [("ip", "10.0.0.1")]


@pytest.mark.parametrize(
    ("data_type", "data"),
    [
        ("ip", "1.2.3"),
        ("ip", "8.8.8.8/32"),
        ("domain", "-bad.com"),
        ("domain", "a..b"),
        ("domain", "sp ace.com"),
        ("domain", "a" * 64 + ".com"),
        ("fqdn", ""),
        ("url", "not a url"),
        ("url", "http://host:99999/"),
        ("url", "http://bad_host!/"),
        ("mail", "nobody"),
        ("mail", "@acme.example"),
        ("mail", "x" * 65 + "@acme.example"),
        ("hash", "44d88612fea8a8f36de82e1278abb02f"),
    ],
)
def test_bad_observables_are_refused(data_type: str, data: str) -> None:
    with pytest.raises(AnalyzerInputError):
        classify(data_type, data)


def test_built_in_catalog() -> None:
    assert set(BUILT_INS) == {"File_Info", "Observable_Classifier"}
    assert BUILT_INS["File_Info"].data_types == ("file",)
    assert BUILT_INS["Observable_Classifier"].data_types == ("ip", "domain", "fqdn", "url", "mail")
