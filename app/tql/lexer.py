"""TQL tokenizer: turns text into tokens that remember their offsets, for precise errors."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from app.errors import BadUserInput


class Kind(enum.Enum):
    WORD = "word"
    STRING = "string"
    INT = "integer"
    OP = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end of input"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # the source text of the token
    value: str | int  # decoded string, integer, or the word/operator itself
    offset: int

    def describe(self) -> str:
        """How an error message names the token the parser found."""
        if self.kind is Kind.END:
            return "end of input"
        if self.kind in (Kind.LPAREN, Kind.RPAREN, Kind.COMMA, Kind.OP):
            return f'"{self.text}"'
        shown = self.text if len(self.text) <= 40 else self.text[:40] + "…"
        return f"{self.kind.value} {shown}"


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"-?[0-9]+")
_OPS = ("<=", ">=", "!=", "=", "<", ">")
_PUNCT = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_MAX_INT_DIGITS = 20  # anything longer is out of range anyway; int() of huge text is slow


def error(text: str, offset: int, message: str) -> BadUserInput:
    """A BAD_USER_INPUT for the `tql` argument, placed at `offset` of `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return BadUserInput(
        f"{message} (at line {line}, column {column})",
        argument="tql",
        tql={"offset": offset, "line": line, "column": column},
    )


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`, ending with an END token."""
    tokens: list[Token] = []
    pos = 0
    while True:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
        if pos >= len(text):
            tokens.append(Token(Kind.END, "", "", pos))
            return tokens
        token = _next(text, pos)
        tokens.append(token)
        pos += len(token.text)


def _next(text: str, pos: int) -> Token:
    char = text[pos]
    if char in _PUNCT:
        return Token(_PUNCT[char], char, char, pos)
    for op in _OPS:
        if text.startswith(op, pos):
            return Token(Kind.OP, op, op, pos)
    if char in "'\"":
        return _string(text, pos)
    number = _INT.match(text, pos)
    if number:
        return _integer(text, pos, number.group())
    word = _WORD.match(text, pos)
    if word:
        return Token(Kind.WORD, word.group(), word.group(), pos)
    found = "-" if char == "-" else repr(char)
    raise error(
        text, pos, f"expected a field, value, operator or parenthesis, found character {found}"
    )


def _integer(text: str, pos: int, digits: str) -> Token:
    end = pos + len(digits)
    if end < len(text) and (text[end] == "." or _WORD.match(text, end)):
        run = re.match(r"[^\s(),]+", text[pos:])
        found = repr(run.group() if run else digits)
        message = "decimals are not supported and text must be quoted"
        raise error(text, pos, f"expected an integer, found {found}; {message}")
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        raise error(text, pos, "integer is out of range (-2147483648..2147483647)")
    return Token(Kind.INT, digits, int(digits), pos)


def _string(text: str, start: int) -> Token:
    quote = text[start]
    parts: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return Token(Kind.STRING, text[start : pos + 1], "".join(parts), start)
        if char == "\\":
            decoded, pos = _escape(text, pos)
            parts.append(decoded)
            continue
        parts.append(char)
        pos += 1
    raise error(text, start, f"expected a closing {quote} for the string that starts here")


def _escape(text: str, pos: int) -> tuple[str, int]:
    """Decode the escape at `pos` (a backslash); return it and the position after it."""
    code = text[pos + 1 : pos + 2]
    if code in _ESCAPES:
        return _ESCAPES[code], pos + 2
    if code == "u":
        digits = text[pos + 2 : pos + 6]
        if re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
            return _unicode(text, pos, int(digits, 16))
    found = repr("\\" + code) if code else "end of input"
    raise error(
        text,
        pos,
        "expected an escape \\\\, \\', \\\", \\n, \\r, \\t or \\uXXXX after the backslash, "
        f"found {found}",
    )


def _unicode(text: str, pos: int, unit: int) -> tuple[str, int]:
    """A \\uXXXX escape; a surrogate pair written as two escapes makes one character."""
    if 0xD800 <= unit <= 0xDBFF:
        low = re.match(r"\\u(d[c-f][0-9a-f]{2})", text[pos + 6 : pos + 12], re.IGNORECASE)
        if low:
            pair = 0x10000 + ((unit - 0xD800) << 10) + (int(low.group(1), 16) - 0xDC00)
            return chr(pair), pos + 12
    if 0xD800 <= unit <= 0xDFFF:
        raise error(text, pos, "expected a character, found a lone UTF-16 surrogate escape")
    if unit == 0:
        raise error(text, pos, "expected a character, found a NUL escape (\\u0000)")
    return chr(unit), pos + 6
