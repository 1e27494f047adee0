"""File_Info: size, hashes, type from magic bytes, entropy, and the EICAR test file."""

from __future__ import annotations

import hashlib
import math
from collections import Counter

from app.worker.analyzers.magic import identify
from app.worker.analyzers.report import (
    AnalyzerInputError,
    Artifact,
    Level,
    Observable,
    Report,
    Taxonomy,
)

NAMESPACE = "FileInfo"
# The EICAR anti-virus test file: these 68 bytes, then at most whitespace, 128 bytes in all
# (https://www.eicar.org/download-anti-malware-testfile/). Anti-virus products flag it as
# malware on purpose, so a pipeline can be tested without real malware.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_MAX_SIZE = 128
_EICAR_PADDING = frozenset(b" \t\r\n\x1a")


def analyze(observable: Observable) -> Report:
    content = observable.content
    if observable.data_type != "file" or content is None:
        raise AnalyzerInputError("File_Info analyzes files only")
    kind = identify(content)
    entropy = shannon_entropy(content)
    digests = {
        "sha256": hashlib.sha256(content).hexdigest(),
        "sha1": hashlib.sha1(content).hexdigest(),
        "md5": hashlib.md5(content).hexdigest(),
    }
    eicar = is_eicar(content)
    taxonomies = [
        Taxonomy(Level.INFO, NAMESPACE, "Filetype", kind.label),
        Taxonomy(Level.INFO, NAMESPACE, "Size", f"{len(content)} bytes"),
        Taxonomy(Level.INFO, NAMESPACE, "Entropy", f"{entropy:.2f}"),
    ]
    if eicar:
        taxonomies.append(Taxonomy(Level.MALICIOUS, NAMESPACE, "EICAR", "EICAR-Test-File"))
    full = {
        "filename": observable.filename,
        "size": len(content),
        **digests,
        "type": {"label": kind.label, "mime": kind.mime, "kind": kind.kind, **kind.detail},
        "magic": content[:16].hex(),
        "entropy": round(entropy, 4),
        "eicar": eicar,
    }
    return Report(taxonomies, full, [Artifact("hash", digests["sha256"], "sha256 of the file")])


def shannon_entropy(content: bytes) -> float:
    """Bits per byte, 0 (one byte value repeated) to 8 (every value equally often)."""
    if not content:
        return 0.0
    total = len(content)
    return -sum(n / total * math.log2(n / total) for n in Counter(content).values()) + 0.0


def is_eicar(content: bytes) -> bool:
    return (
        content.startswith(EICAR)
        and len(content) <= EICAR_MAX_SIZE
        and all(byte in _EICAR_PADDING for byte in content[len(EICAR) :])
    )
