"""Attachment bytes in a local folder, addressed by their sha256."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.errors import PayloadTooLarge

SHA256 = re.compile(r"[0-9a-f]{64}")
# Bytes gathered before each write: large enough that the thread hop and the hashing's
# per-call cost vanish, small enough that an upload never holds more than this in memory.
WRITE_BATCH = 1024 * 1024
STAGING_PREFIX = ".upload-"


@dataclass(frozen=True, slots=True)
class Digests:
    sha256: str
    sha1: str
    md5: str
    size: int


def digests(content: bytes) -> Digests:
    return Digests(
        sha256=hashlib.sha256(content).hexdigest(),
        sha1=hashlib.sha1(content).hexdigest(),
        md5=hashlib.md5(content).hexdigest(),
        size=len(content),
    )


@dataclass(slots=True)
class Staged:
    """Bytes written to a temporary file in the store, hashed, not yet at their address."""

    path: Path
    digests: Digests


class _Sink:
    """A temporary file and the three running hashes of what went into it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file, self.size = file, 0
        self.hashes = (hashlib.sha256(), hashlib.sha1(), hashlib.md5())

    def write(self, data: bytearray) -> None:
        # hashlib lets go of the GIL on large buffers: run in a thread, this work does not
        # stall the event loop.
        for h in self.hashes:
            h.update(data)
        self.file.write(data)
        self.size += len(data)

    def digests(self) -> Digests:
        sha256, sha1, md5 = (h.hexdigest() for h in self.hashes)
        return Digests(sha256=sha256, sha1=sha1, md5=md5, size=self.size)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise ValueError("not a sha256 digest")
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> Digests:
        """Store `content` once; a second put of the same bytes is a no-op."""
        found = digests(content)
        target = self.path(found.sha256)
        if target.exists():
            return found
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a blob.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
        return found

    async def stage(self, chunks: AsyncIterable[bytes], limit: int) -> Staged:
        """Streams `chunks` into a temporary file of the store while hashing them.

        More than `limit` bytes is PayloadTooLarge, and the temporary file is gone, as it is
        after any failure (the client went away, the request ran out of time).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.root, prefix=STAGING_PREFIX)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as file:
                sink, batch, pending = _Sink(file), bytearray(), 0
                async for chunk in chunks:
                    pending += len(chunk)
                    if pending > limit:
                        raise PayloadTooLarge(f"The file is larger than {limit} bytes")
                    batch += chunk
                    if len(batch) >= WRITE_BATCH:
                        # Handed over whole, not copied: the next chunks go into a new batch.
                        full, batch = batch, bytearray()
                        await asyncio.to_thread(sink.write, full)
                if batch:
                    await asyncio.to_thread(sink.write, batch)
            return Staged(path, sink.digests())
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def publish(self, staged: Staged) -> None:
        """Moves staged bytes to their address; when the same bytes are there already, the
        staged copy is dropped. Either way a reader never sees half a blob."""
        target = self.path(staged.digests.sha256)
        if target.is_file():
            staged.path.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, target)

    def discard(self, staged: Staged) -> None:
        staged.path.unlink(missing_ok=True)

    def staging_files(self) -> list[Path]:
        """Temporary files of uploads in progress (or of a process that died mid-upload)."""
        return sorted(self.root.glob(STAGING_PREFIX + "*"))

    def forget_abandoned(self, older_than: float) -> int:
        """Removes staging files untouched for `older_than` seconds: those of a process killed
        mid-upload (a live upload writes at least every request timeout). Returns how many."""
        cutoff, removed = time.time() - older_than, 0
        for path in self.staging_files():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()
