"""Trusted documents: a manifest of registered documents (id → text) and what it allows.

A manifest is a JSON object mapping each document's id to its text, as graphql-codegen's
`persistedDocuments`, Relay's `persistConfig` file and `jobql trusted-documents` write it, or
Apollo's persisted query manifest (`{"format": "apollo-persisted-query-manifest", "version": 1,
"operations": [{"id", "body", ...}]}`). A document is found by its id, by the sha256 of its
text, or by its text itself; the text is compared line by line without the lines' leading and
trailing blanks, so a client that indents the registered text (as generated clients embed it)
still matches, and nothing has to be parsed to decide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from graphql import GraphQLSchema, validate

from app.document_set import read_set, standalone

APOLLO_FORMAT = "apollo-persisted-query-manifest"
SHA256_PREFIX = "sha256:"  # a documentId that names the hash (GraphQL over HTTP's proposal)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normal_form(text: str) -> str:
    """The text without blank lines and the blanks around lines: equal for a registered
    document and the same document re-indented."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def read_manifest(path: Path) -> dict[str, str]:
    """The manifest at `path` as {id: text}; ValueError saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"cannot read the manifest: {e.strerror}") from None
    except ValueError:
        raise ValueError("the manifest is not JSON") from None
    if isinstance(data, dict) and data.get("format") == APOLLO_FORMAT:
        operations = data.get("operations")
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            raise ValueError("an Apollo manifest needs a list of operations")
        data = {o.get("id"): o.get("body") for o in operations}
    if not isinstance(data, dict) or not data:
        raise ValueError("the manifest must be a non-empty JSON object of id: document")
    if not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in data.items()):
        raise ValueError("each entry of the manifest must map an id to a document's text")
    return data


class Manifest:
    """The registered documents, looked up by id, by sha256 of the text, or by the text."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self.by_id = dict(documents)
        self.by_sha256 = {sha256(text): text for text in documents.values()}
        self._normal = {sha256(normal_form(text)) for text in documents.values()}

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls(read_manifest(path))

    def __len__(self) -> int:
        return len(self.by_id)

    def find(self, document_id: str) -> str | None:
        """The text registered under `document_id` (or `sha256:<hash of the text>`)."""
        found = self.by_id.get(document_id)
        if found is None and document_id.startswith(SHA256_PREFIX):
            found = self.by_sha256.get(document_id.removeprefix(SHA256_PREFIX))
        return found

    def allows(self, text: str) -> bool:
        return sha256(normal_form(text)) in self._normal


def build_manifest(folders: Iterable[Path], schema: GraphQLSchema) -> dict[str, str]:
    """{sha256 of the text: text} for each operation of the folders' document set, printed
    with the fragments it uses; ValueError naming what does not validate against `schema`."""
    document = read_set(folders)
    problems = [error.message for error in validate(schema, document)]
    if problems:
        raise ValueError("the operations do not validate: " + "; ".join(problems))
    texts = standalone(document).values()
    return {sha256(text): text for text in sorted(texts)}
