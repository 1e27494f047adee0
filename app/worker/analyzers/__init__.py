"""The analyzers built into jobql, pure functions of an observable: no network, no state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.worker.analyzers import file_info, observables
from app.worker.analyzers.report import (
    AnalyzerInputError,
    Artifact,
    Level,
    Observable,
    Report,
    Taxonomy,
)


@dataclass(frozen=True, slots=True)
class BuiltIn:
    name: str  # the analyzer's name and definition id in jobql
    version: str
    data_types: tuple[str, ...]
    description: str
    run: Callable[[Observable], Report]


BUILT_INS: dict[str, BuiltIn] = {
    analyzer.name: analyzer
    for analyzer in (
        BuiltIn(
            "File_Info",
            "1.0",
            ("file",),
            "Size, sha256/sha1/md5, file type from magic bytes, Shannon entropy; the EICAR "
            "test file is reported MALICIOUS. Built into jobql: runs offline.",
            file_info.analyze,
        ),
        BuiltIn(
            "Observable_Classifier",
            "1.0",
            observables.DATA_TYPES,
            "What an observable is: IP address classes, IDN and TLD of domains, URL parts and "
            "the host they name, the domain of a mail address. Built into jobql: runs offline.",
            observables.analyze,
        ),
    )
}

__all__ = [
    "BUILT_INS",
    "AnalyzerInputError",
    "Artifact",
    "BuiltIn",
    "Level",
    "Observable",
    "Report",
    "Taxonomy",
]
