"""The file name of a `Content-Disposition` header (RFC 6266, with RFC 8187's `filename*`), pure."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_to_bytes

MAX_NAME_LENGTH = 255
TYPES = frozenset({"attachment", "inline"})
# RFC 8187 names two charsets every recipient must know; anything else is refused, not guessed.
CHARSETS = {"utf-8": "utf-8", "iso-8859-1": "latin-1"}
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAMETER = re.compile(rf"\s*;\s*({_TOKEN})\s*=\s*({_QUOTED}|[^;\s\"]+)\s*")
_TYPE = re.compile(rf"\s*({_TOKEN})\s*")
_EXT_VALUE = re.compile(r"([!#$%&+^_`{}~0-9A-Za-z-]+)'([A-Za-z0-9-]*)'(.*)", re.DOTALL)


class BadDisposition(ValueError):
    """The header cannot give a usable file name; the message says why, for the client."""


def filename(header: str | None) -> str:
    """The file name to store: `filename*` over `filename`, without any directory part."""
    if header is None or not header.strip():
        raise BadDisposition('Name the file: Content-Disposition: attachment; filename="name.ext"')
    params = _parameters(header)
    if "filename*" in params:
        name = _ext_value(params["filename*"])
    elif "filename" in params:
        name = _latin1_or_utf8(_unquote(params["filename"]))
    else:
        raise BadDisposition("Content-Disposition has no filename (nor filename*) parameter")
    return _clean(name)


def _parameters(header: str) -> dict[str, str]:
    match = _TYPE.match(header)
    if match is None or match.group(1).lower() not in TYPES:
        raise BadDisposition('Content-Disposition must start with "attachment" (or "inline")')
    found: dict[str, str] = {}
    position = match.end()
    while position < len(header):
        param = _PARAMETER.match(header, position)
        if param is None:
            raise BadDisposition(f"Content-Disposition is malformed near: {header[position:]!r}")
        name = param.group(1).lower()
        if name in found:  # two names for one file: which one the client meant is a guess
            raise BadDisposition(f"Content-Disposition has the parameter {name} twice")
        found[name] = param.group(2)
        position = param.end()
    return found


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _latin1_or_utf8(value: str) -> str:
    # Header bytes reach us as ISO-8859-1 (the HTTP default). Clients such as curl send a
    # UTF-8 name as it is, so bytes that are valid UTF-8 are read as UTF-8.
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _ext_value(value: str) -> str:
    match = _EXT_VALUE.fullmatch(_unquote(value))
    if match is None:
        raise BadDisposition("filename* must look like UTF-8''name%20with%20escapes")
    charset = CHARSETS.get(match.group(1).lower())
    if charset is None:
        raise BadDisposition("filename* must be in UTF-8 or ISO-8859-1")
    try:
        return unquote_to_bytes(match.group(3)).decode(charset)
    except UnicodeDecodeError:
        raise BadDisposition(f"filename* is not valid {match.group(1)}") from None


def _clean(name: str) -> str:
    # RFC 6266 §4.3: a recipient drops any directory part; the name is a label, never a path.
    base = re.split(r"[/\\]", name)[-1].strip()
    if base in ("", ".", ".."):
        raise BadDisposition("The file name is empty")
    if any(unicodedata.category(c) == "Cc" for c in base):
        raise BadDisposition("The file name contains control characters")
    if len(base) > MAX_NAME_LENGTH:
        raise BadDisposition(f"The file name is longer than {MAX_NAME_LENGTH} characters")
    return base
