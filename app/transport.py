"""GraphQL over HTTP as its specification words it: what a request may look like, which media
type answers it, and with which status. Every refusal is an HttpError with a JSON body."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import ExecutionResult

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
RETRY_AFTER_SECONDS = 1


class HttpError(Exception):
    """A request refused before execution, with its status, a code and extra headers."""

    def __init__(self, status: int, message: str, code: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers

    def response(self, media_type: str = JSON) -> Response:
        return error_response(self.status, self.message, self.code, media_type, **self.headers)


def error_response(
    status: int, message: str, code: str, media_type: str = JSON, **headers: str
) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return json_response(body, status, media_type, headers)


def json_response(
    body: object, status: int, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        encode_json(body), status, headers=headers, media_type=f"{media_type}; charset=utf-8"
    )


def encode_json(body: object) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:
        # A lone surrogate echoed from the request: escaped, it stays valid JSON and UTF-8.
        return json.dumps(body, ensure_ascii=True, default=str).encode()


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in: application/graphql-response+json when the client names
    it at least as highly as JSON; application/json for wildcards or no Accept; None (406)
    when it accepts neither."""
    if not accept or not accept.strip():
        return JSON
    graphql_q = json_q = 0.0
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        q = _quality(params)
        if media == GRAPHQL_RESPONSE:
            graphql_q = max(graphql_q, q)
        elif media in (JSON, "application/*", "*/*"):
            json_q = max(json_q, q)
    if graphql_q > 0 and graphql_q >= json_q:
        return GRAPHQL_RESPONSE
    return JSON if json_q > 0 else None


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


@dataclass(frozen=True, slots=True)
class Params:
    """The GraphQL request: a document, which of its operations, and its inputs."""

    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None
    document_id: str | None = None  # a trusted document's id (app/persisted.py)


def check_content_length(request: Request, limit: int) -> None:
    """Refuse a body announced too large before reading a byte of it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, counted as it streams in: Content-Length can lie, or be absent (chunked)."""
    check_content_length(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> HttpError:
    return HttpError(413, f"The request body is larger than {limit} bytes", "PAYLOAD_TOO_LARGE")


def post_params(content_type: str | None, body: bytes, max_depth: int) -> Params:
    media, _, parameters = (content_type or "").partition(";")
    charset = parameters.partition("charset=")[2].strip().strip('"').lower()
    # Only JSON: form and text bodies are what a cross-site page can send without a preflight.
    if media.strip().lower() != JSON or charset not in ("", "utf-8", "utf8"):
        raise HttpError(
            415, "Send the request as application/json (UTF-8)", "UNSUPPORTED_MEDIA_TYPE"
        )
    if not body.strip():
        raise bad_request('The request body is empty: send {"query": "…"}')
    data = decode_json(body)
    if isinstance(data, list):
        raise bad_request("Batched requests are not supported: send one operation per request")
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object")
    return params(data, max_depth)


def decode_json(raw: bytes, what: str = "The request body") -> Any:
    try:
        return orjson.loads(raw)  # strict UTF-8, and at most 1,024 levels deep
    except orjson.JSONDecodeError as e:
        if "surrogate" not in str(e):
            raise bad_request(f"{what} is not valid JSON in UTF-8") from None
    # JSON allows a lone surrogate as an escape (\ud800), which orjson refuses; the standard
    # parser takes it, so the field that reads the string can say what is wrong with it.
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request(f"{what} is not valid JSON in UTF-8") from None


def get_params(query_params: Mapping[str, str], max_depth: int) -> Params:
    data: dict[str, Any] = {"query": query_params.get("query")}
    data["operationName"] = query_params.get("operationName") or None
    data["documentId"] = query_params.get("documentId")
    for name in ("variables", "extensions"):
        text = query_params.get(name)
        if text:
            data[name] = decode_json(text.encode(), name)
    return params(data, max_depth)


def params(data: Mapping[str, Any], max_depth: int) -> Params:
    query, name = data.get("query"), data.get("operationName")
    variables, extensions = data.get("variables"), data.get("extensions")
    document_id = data.get("documentId")
    if document_id is not None and (not isinstance(document_id, str) or not document_id):
        raise bad_request("`documentId` must be a non-empty string")
    persisted = isinstance(extensions, dict) and "persistedQuery" in extensions
    if (persisted or document_id is not None) and query is None:
        query = ""  # the document is the one named by hash or id (app/persisted.py)
    elif not isinstance(query, str) or not query.strip():
        raise bad_request("`query` must be a string holding a GraphQL document")
    if name is not None and not isinstance(name, str):
        raise bad_request("`operationName` must be a string or null")
    for key, value in (("variables", variables), ("extensions", extensions)):
        if value is not None and not isinstance(value, dict):
            raise bad_request(f"`{key}` must be a JSON object or null")
        if value is not None and _deeper_than(value, max_depth):
            raise bad_request(f"`{key}` is nested more than {max_depth} levels deep")
    return Params(query, name, variables, extensions, document_id)


def _deeper_than(value: object, limit: int) -> bool:
    # Iterative: the point is to refuse what would exhaust recursion further on.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def bad_request(message: str) -> HttpError:
    return HttpError(400, message, "BAD_REQUEST")


def is_request_error(result: ExecutionResult) -> bool:
    """Failed before execution began (parse, validation, limits, variable coercion): then
    there is no `data` entry at all, and application/graphql-response+json answers 400."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


def result_response(result: ExecutionResult, media_type: str) -> Response:
    body: dict[str, object] = {}
    request_error = is_request_error(result)
    if not request_error:
        body["data"] = result.data
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    status, headers = 200, {}
    if _overloaded(result.errors or []):
        # The server, not the query, failed: a client may retry the same request shortly.
        status, headers = 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    elif request_error and media_type == GRAPHQL_RESPONSE:
        status = 400
    return json_response(body, status, media_type, headers)


def _overloaded(errors: list[GraphQLError]) -> bool:
    return any((e.extensions or {}).get("code") == "SERVICE_UNAVAILABLE" for e in errors)
