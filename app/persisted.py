"""Which document a request runs, when it names one by id or hash.

Automatic persisted queries, Apollo's protocol: a client sends the sha256 of its document in
`extensions.persistedQuery`; a known hash runs the stored text, an unknown one answers
PERSISTED_QUERY_NOT_FOUND, and the client resends hash and text, which are checked and stored.
The store is this process's memory, bounded (least recently used goes first) and filled only by
authenticated requests; with several processes a client may be asked for the text once per
process, which the protocol expects.

Trusted documents (JOBQL_TRUSTED_DOCUMENTS): only the manifest's documents run, named by
`documentId`, by `extensions.persistedQuery.sha256Hash`, or sent as text; nothing is learnt
from requests, and anything else is refused before it is parsed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from typing import Any

from app.transport import GRAPHQL_RESPONSE, HttpError, Params
from app.trusted import Manifest

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"  # Apollo's: documentId without a manifest
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"  # Apollo Router's and Yoga's: an unknown id
ONLY = "PERSISTED_QUERY_ONLY"  # Yoga's (PersistedQueryOnly): a text the manifest lacks
SHA256_HEX = frozenset("0123456789abcdef")


class PersistedQueries:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._texts: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._texts)

    def resolve(self, params: Params, media_type: str) -> Params:
        """`params` with the document to run, or a refusal saying what the client must do."""
        if params.document_id is not None:
            message = "documentId needs trusted documents, which this server does not serve"
            raise _request_error(message, NOT_SUPPORTED, media_type)
        persisted = (params.extensions or {}).get("persistedQuery")
        if persisted is None:
            return params
        digest = _digest(persisted)
        if params.query:
            if hashlib.sha256(params.query.encode()).hexdigest() != digest:
                raise _request_error("provided sha does not match query", "BAD_REQUEST", media_type)
            self._remember(digest, params.query)
            return params
        text = self._texts.get(digest)
        if text is None:
            # The message is what Apollo's link compares; the code is what others look for.
            raise _request_error("PersistedQueryNotFound", NOT_FOUND, media_type)
        self._texts.move_to_end(digest)
        return dataclasses.replace(params, query=text)

    def _remember(self, digest: str, text: str) -> None:
        self._texts[digest] = text
        self._texts.move_to_end(digest)
        while len(self._texts) > self.max_entries:
            self._texts.popitem(last=False)


class TrustedDocuments:
    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def resolve(self, params: Params, media_type: str) -> Params:
        """`params` with the registered document to run, or a refusal."""
        if params.document_id is not None:
            if params.query:
                raise HttpError(400, "Send documentId or query, not both", "BAD_REQUEST")
            return self._registered(params, self.manifest.find(params.document_id), media_type)
        persisted = (params.extensions or {}).get("persistedQuery")
        if persisted is not None:
            digest = _digest(persisted)
            if params.query and hashlib.sha256(params.query.encode()).hexdigest() != digest:
                raise _request_error("provided sha does not match query", "BAD_REQUEST", media_type)
            return self._registered(params, self.manifest.by_sha256.get(digest), media_type)
        if not self.manifest.allows(params.query):
            raise _request_error(ONLY_MESSAGE, ONLY, media_type)
        return params

    @staticmethod
    def _registered(params: Params, text: str | None, media_type: str) -> Params:
        if text is None:
            raise _request_error("No trusted document has this id", NOT_IN_LIST, media_type)
        return dataclasses.replace(params, query=text)


ONLY_MESSAGE = (
    "Only trusted documents run on this server: send a registered document's documentId "
    "(or its sha256 in extensions.persistedQuery), or its text as registered"
)


def _digest(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise HttpError(
            400, "extensions.persistedQuery must be {version: 1, sha256Hash}", "BAD_REQUEST"
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= SHA256_HEX:
        raise HttpError(
            400,
            "extensions.persistedQuery.sha256Hash must be 64 lowercase hex digits",
            "BAD_REQUEST",
        )
    return digest


def _request_error(message: str, code: str, media_type: str) -> HttpError:
    return HttpError(400 if media_type == GRAPHQL_RESPONSE else 200, message, code)
