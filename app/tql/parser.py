"""TQL parser: recursive descent over tokens, with nesting tracked so depth fails cleanly."""

from __future__ import annotations

import difflib
import re
from typing import NoReturn

from app.tql.ast import Condition, Has, Not, Op, Or, Predicate, Scalar, conjoin
from app.tql.check import TqlLimits
from app.tql.fields import FieldRegistry, FieldSpec, Relation
from app.tql.lexer import Kind, Token, error, tokenize
from app.tql.values import InvalidValue, coerce

_COMPARISONS = {"=": Op.EQ, "!=": Op.NEQ, "<": Op.LT, "<=": Op.LTE, ">": Op.GT, ">=": Op.GTE}
_TEXT_OPS = {
    "CONTAINS": (Op.CONTAINS, Op.NOT_CONTAINS),
    "STARTSWITH": (Op.STARTSWITH, Op.NOT_STARTSWITH),
    "ENDSWITH": (Op.ENDSWITH, Op.NOT_ENDSWITH),
}
_OPERATORS = "=, !=, <, <=, >, >=, IN, NOT IN, IS [NOT] NULL, [NOT] CONTAINS, STARTSWITH, "
_OPERATORS += "ENDSWITH or BETWEEN"
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


def parse_tql(text: str, registry: FieldRegistry, limits: TqlLimits) -> Predicate | None:
    """The predicate a TQL text means, or None for a blank text (no condition)."""
    if len(text) > limits.max_length:
        message = f"expected at most {limits.max_length} characters, found {len(text)}"
        raise error(text, limits.max_length, message)
    forbidden = _FORBIDDEN.search(text)
    if forbidden:
        what = "a NUL character" if forbidden.group() == "\x00" else "a lone UTF-16 surrogate"
        raise error(text, forbidden.start(), f"expected text, found {what}")
    if not text.strip():
        return None
    return _Parser(text, registry, limits).parse()


class _Parser:
    def __init__(self, text: str, registry: FieldRegistry, limits: TqlLimits) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.registry = registry
        self.outer = registry
        self.limits = limits
        self.terms = 0

    def parse(self) -> Predicate:
        tree = self.parse_or(0)
        end = self.peek()
        if end.kind is Kind.RPAREN:
            self.fail(end, "AND, OR or the end", found='")" without a matching "("')
        if end.kind is not Kind.END:
            self.fail(end, "AND, OR or the end")
        return tree

    # Grammar: or := and ("OR" and)* ; and := unary ("AND" unary)*
    def parse_or(self, depth: int) -> Predicate:
        items = [self.parse_and(depth)]
        while self.accept_word("OR"):
            items.append(self.parse_and(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self, depth: int) -> Predicate:
        items = [self.parse_unary(depth)]
        while self.accept_word("AND"):
            items.append(self.parse_unary(depth))
        return conjoin(items)

    def parse_unary(self, depth: int) -> Predicate:
        """unary := "NOT" unary | "(" or ")" | cond; each NOT or "(" is one level of nesting."""
        token = self.peek()
        if self.is_word(token, "NOT") or token.kind is Kind.LPAREN:
            if depth >= self.limits.max_depth:
                raise error(
                    self.text,
                    token.offset,
                    f"expected a condition, found more than {self.limits.max_depth} nested "
                    "levels of parentheses and NOT",
                )
            self.pos += 1
            if token.kind is Kind.LPAREN:
                inner = self.parse_or(depth + 1)
                self.expect(Kind.RPAREN, '")"')
                return inner
            return Not(self.parse_unary(depth + 1))
        return self.parse_condition(depth)

    def parse_condition(self, depth: int) -> Predicate:
        token = self.peek()
        if token.kind is not Kind.WORD:
            self.fail(token, 'a field name, NOT or "("')
        relation = self.registry.relation(token.text)
        if relation is not None:
            if not self.is_word(self.tokens[self.pos + 1], "HAS"):
                self.fail(self.tokens[self.pos + 1], f"HAS after {relation.name} (… HAS (…))")
            return self.parse_has(relation, depth)
        spec = self.registry.lookup(token.text)
        if spec is None:
            self.unknown_field(token)
        self.terms += 1
        if self.terms > self.limits.max_terms:
            self.fail(token, f"at most {self.limits.max_terms} conditions", "more")
        self.pos += 1
        return self.parse_operation(spec)

    def parse_has(self, relation: Relation, depth: int) -> Has:
        """relation "HAS" "(" or ")": the conditions inside test one row of the relation."""
        token = self.peek()
        if depth >= self.limits.max_depth:
            self.fail(token, f"at most {self.limits.max_depth} nested levels", "more")
        self.pos += 2
        self.expect(Kind.LPAREN, f'"(" after {relation.name} HAS')
        self.registry = relation.fields
        try:
            inner = self.parse_or(depth + 1)
        finally:
            self.registry = self.outer
        self.expect(Kind.RPAREN, f'AND, OR or ")" closing {relation.name} HAS (…)')
        return Has(relation.name, inner)

    def unknown_field(self, token: Token) -> NoReturn:
        names = self.registry.names()
        folded = {name.lower(): name for name in names}
        near = difflib.get_close_matches(token.text.lower(), list(folded), n=1, cutoff=0.6)
        hint = f"; did you mean {folded[near[0]]}?" if near else ""
        self.fail(token, f"a field name (one of {', '.join(names)})", hint=hint)

    def parse_operation(self, spec: FieldSpec) -> Condition:
        """What follows a field: cond := field op value | field [NOT] IN (...) | ..."""
        token = self.advance()
        if token.kind is Kind.OP:
            op = self.allowed(spec, _COMPARISONS[token.text], token)
            return Condition(spec.name, op, self.value(spec))
        negated = self.is_word(token, "NOT")
        if negated:
            token = self.advance()
        word = token.text.upper() if token.kind is Kind.WORD else ""
        if word == "IN":
            op = self.allowed(spec, Op.NOT_IN if negated else Op.IN, token)
            return Condition(spec.name, op, self.value_list(spec))
        if word in _TEXT_OPS:
            op = self.allowed(spec, _TEXT_OPS[word][negated], token)
            return Condition(spec.name, op, self.value(spec))
        if word == "IS" and not negated:
            negated = self.accept_word("NOT")
            self.expect_word("NULL")
            op = self.allowed(spec, Op.IS_NOT_NULL if negated else Op.IS_NULL, token)
            return Condition(spec.name, op)
        if word == "BETWEEN" and not negated:
            op = self.allowed(spec, Op.BETWEEN, token)
            low = self.value(spec)
            self.expect_word("AND")
            return Condition(spec.name, op, (low, self.value(spec)))
        expected = "IN, CONTAINS, STARTSWITH or ENDSWITH" if negated else _OPERATORS
        self.fail(token, f"an operator after {spec.name} ({expected})")

    def allowed(self, spec: FieldSpec, op: Op, token: Token) -> Op:
        if op not in spec.operators:
            valid = ", ".join(o.value for o in spec.operators)
            self.fail(token, f"an operator that {spec.name} supports ({valid})", op.value)
        return op

    def value_list(self, spec: FieldSpec) -> tuple[Scalar, ...]:
        self.expect(Kind.LPAREN, '"(" opening the list of values')
        values = [self.value(spec)]
        while self.peek().kind is Kind.COMMA:
            self.pos += 1
            if len(values) >= self.limits.max_in_values:
                self.fail(self.peek(), f"at most {self.limits.max_in_values} values in the list")
            values.append(self.value(spec))
        self.expect(Kind.RPAREN, '"," or ")" closing the list of values')
        return tuple(values)

    def value(self, spec: FieldSpec) -> Scalar:
        """value := string | integer | true | false, checked against the field's type."""
        token = self.advance()
        raw: str | int | bool
        if token.kind in (Kind.STRING, Kind.INT):
            raw = token.value
        elif self.is_word(token, "TRUE") or self.is_word(token, "FALSE"):
            raw = token.text.upper() == "TRUE"
        else:
            hint = f'; quote text: "{token.text}"' if token.kind is Kind.WORD else ""
            self.fail(token, "a value (a quoted string, an integer, true or false)", hint=hint)
        try:
            return coerce(spec, raw)
        except InvalidValue as problem:
            raise error(self.text, token.offset, str(problem)) from None

    # Token helpers.
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not Kind.END:
            self.pos += 1
        return token

    @staticmethod
    def is_word(token: Token, word: str) -> bool:
        return token.kind is Kind.WORD and token.text.upper() == word

    def accept_word(self, word: str) -> bool:
        if self.is_word(self.peek(), word):
            self.pos += 1
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            self.fail(self.peek(), word)

    def expect(self, kind: Kind, expected: str) -> None:
        token = self.advance()
        if token.kind is not kind:
            self.fail(token, expected)

    def fail(self, token: Token, expected: str, found: str = "", hint: str = "") -> NoReturn:
        message = f"expected {expected}, found {found or token.describe()}{hint}"
        raise error(self.text, token.offset, message)
