"""The RSL layer of xRSL: tokens, relations, boolean operators and evaluation, as ARC 7 reads them.

Modelled on ``src/hed/acc/JobDescriptionParser/RSLParser.cpp`` (nordugrid/arc 7.0.0); the grammar
and its traps are described in the project's job-description notes::

    rsl       := ws* ( boolop ws* ( "(" ws* rsl ws* ")" ws* )+  |  condition )
    boolop    := "&" | "|" | "+"
    condition := string ws* relop ws* list
    relop     := "=" | "!=" | "<" | "<=" | ">" | ">="
    list      := { value }
    value     := term { ["#"] term }          (no whitespace between terms = implicit "#")
    term      := string | "$" ws* "(" ws* string ws* ")" | "(" list ")"
    string    := '"'…'"' | "'"…"'" (doubling escapes) | "^" D … D | bare word
    ws        := whitespace or a comment (* … *)

One deliberate difference: ARC finds comments by a plain-text scan of the whole input *before*
tokenising, so a ``(*`` inside a quoted string either breaks the description ("End of comment not
found") or swallows text up to the next real comment. Here comments are recognised only where
whitespace may stand, so ``"a(*b"`` is the five characters the user wrote.

Errors are :class:`RSLError` with a 1-based line and column (ARC reports 0-based columns).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias, Union

__all__ = [
    "BOOL_OPS", "REL_OPS", "Boolean", "Concat", "Condition", "Literal", "Node", "RSLError", "Relation",
    "Sequence", "Value", "Variable", "evaluate", "normalise_name", "parse_rsl",
]

BOOL_OPS: Final = frozenset("&|+")
REL_OPS: Final = ("=", "!=", "<", "<=", ">", ">=")
_WS: Final = " \t\n\v\f\r"
_BARE_STOP: Final = frozenset("+&|()=<>!\"'^#$" + _WS)
_INVALID_NAME: Final = frozenset("+&|()=<>!\"'^#$")
_WS_RUN: Final = re.compile(r"[ \t\n\v\f\r]+")


class RSLError(ValueError):
    """A description is not valid RSL.

    Attributes:
        line: 1-based line of the problem.
        column: 1-based column of the problem.
        reason: The message without position.
    """

    def __init__(self, reason: str, line: int, column: int) -> None:
        super().__init__(f"line {line}:{column}: {reason}")
        self.reason = reason
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Literal:
    """A string term."""

    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class Variable:
    """A ``$(NAME)`` term."""

    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Sequence:
    """A ``( … )`` term: a list of values."""

    items: tuple[Term, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Concat:
    """``left # right`` or two adjacent terms."""

    left: Term
    right: Term
    pos: int


Term: TypeAlias = Union[Literal, Variable, Sequence, Concat]  # noqa: UP007 - dataclass forward refs


@dataclass(frozen=True, slots=True)
class Condition:
    """``(attribute op values)`` before evaluation."""

    name: str
    op: str
    values: tuple[Term, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Boolean:
    """``&``, ``|`` or ``+`` with its operands."""

    op: str
    children: tuple[Node, ...]
    pos: int


Node: TypeAlias = Union[Boolean, Condition]  # noqa: UP007

Value: TypeAlias = Union[str, tuple["Value", ...]]  # noqa: UP007
"""An evaluated value: a string or a sequence of values."""


@dataclass(frozen=True, slots=True)
class Relation:
    """An evaluated condition: normalised attribute name, operator and values.

    Attributes:
        name: Lowercase, underscores removed (``Std_Out`` -> ``stdout``).
        written: The attribute as written.
        op: One of :data:`REL_OPS`.
        values: Evaluated values (strings, or tuples for sequences).
        line: 1-based line of the attribute.
        column: 1-based column of the attribute.
    """

    name: str
    written: str
    op: str
    values: tuple[Value, ...]
    line: int
    column: int


def normalise_name(name: str) -> str:
    """Return an attribute name as ARC compares it: lowercase, all underscores removed."""
    return name.lower().replace("_", "")


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.n = 0
        self.lines = [i for i, c in enumerate(text) if c == "\n"]

    def where(self, pos: int) -> tuple[int, int]:
        import bisect

        k = bisect.bisect_left(self.lines, pos)
        start = self.lines[k - 1] + 1 if k else 0
        return k + 1, pos - start + 1

    def fail(self, reason: str, pos: int | None = None) -> RSLError:
        line, col = self.where(self.n if pos is None else pos)
        return RSLError(reason, line, col)

    def peek(self) -> str:
        return self.s[self.n] if self.n < len(self.s) else ""

    def skip(self) -> None:
        s = self.s
        m = _WS_RUN.match(s, self.n)
        if m:
            self.n = m.end()
        if not s.startswith("(*", self.n):
            return
        while self.n < len(s):
            c = s[self.n]
            if c in _WS:
                self.n += 1
            elif s.startswith("(*", self.n):
                end = s.find("*)", self.n + 1)
                if end < 0:
                    raise self.fail("end of comment not found")
                self.n = end + 2
            else:
                return

    def rsl(self) -> Node:
        self.skip()
        start = self.n
        c = self.peek()
        if c and c in BOOL_OPS:
            self.n += 1
            self.skip()
            children: list[Node] = []
            while True:
                if self.peek() != "(":
                    raise self.fail("'(' expected")
                self.n += 1
                self.skip()
                children.append(self.rsl())
                self.skip()
                if self.peek() != ")":
                    raise self.fail("')' expected")
                self.n += 1
                self.skip()
                if self.peek() != "(":
                    break
            return Boolean(c, tuple(children), start)
        name = self.string()
        if name is None:
            raise self.fail("attribute name expected")
        if any(ch in _INVALID_NAME for ch in name.text) or not name.text:
            raise self.fail(f"attribute name {name.text!r} contains an invalid character", name.pos)
        self.skip()
        op = self.relop()
        self.skip()
        return Condition(name.text, op, self.values(), name.pos)

    def relop(self) -> str:
        s, n = self.s, self.n
        two = s[n:n + 2]
        if two in ("!=", "<=", ">="):
            self.n += 2
            return two
        if two[:1] in ("=", "<", ">"):
            self.n += 1
            return two[:1]
        raise self.fail("relation operator expected")

    def string(self) -> Literal | None:
        s, start = self.s, self.n
        c = self.peek()
        if c in ("'", '"', "^"):
            if c == "^":
                self.n += 1
                if self.n >= len(s):
                    raise self.fail("delimiter expected after '^'")
                c = s[self.n]
            parts: list[str] = []
            while True:
                end = s.find(c, self.n + 1)
                if end < 0:
                    raise self.fail(f"end of {c}-quoted string not found", start)
                parts.append(s[self.n + 1:end])
                self.n = end + 1
                if self.peek() == c:
                    parts.append(c)
                else:
                    return Literal("".join(parts), start)
        end = self.n
        while end < len(s) and s[end] not in _BARE_STOP:
            end += 1
        if end == self.n:
            return None
        self.n = end
        return Literal(s[start:end], start)

    def values(self) -> tuple[Term, ...]:
        out: list[Term] = []
        left: Term | None = None
        concat = 0  # 0 none, 1 explicit '#', 2 implicit (adjacent)
        while True:
            save = self.n
            self.skip()
            if self.n != save:
                concat = 0
            if self.peek() == "#":
                hash_pos = self.n
                self.n += 1
                self.skip()
                concat = 1
            pos = self.n
            right: Term | None
            nextconcat = 0
            c = self.peek()
            if c == "(":
                self.n += 1
                items = self.values()
                self.skip()
                if self.peek() != ")":
                    raise self.fail("')' expected")
                self.n += 1
                right = Sequence(items, pos)
            elif c == "$":
                self.n += 1
                self.skip()
                if self.peek() != "(":
                    raise self.fail("'(' expected")
                self.n += 1
                self.skip()
                var = self.string()
                if var is None:
                    raise self.fail("variable name expected")
                if any(ch in _INVALID_NAME for ch in var.text):
                    raise self.fail(f"variable name {var.text!r} contains an invalid character", var.pos)
                self.skip()
                if self.peek() != ")":
                    raise self.fail("')' expected")
                self.n += 1
                right = Variable(var.text, pos)
                nextconcat = 2
            else:
                right = self.string()
                nextconcat = 2 if right is not None else 0
            if concat == 1:
                if left is None:
                    raise self.fail("no left operand for concatenation operator", hash_pos)
                if right is None:
                    raise self.fail("no right operand for concatenation operator")
                left = Concat(left, right, hash_pos)
            elif concat == 2 and left is not None:
                if right is not None:
                    left = Concat(left, right, pos)
            else:
                if left is not None:
                    out.append(left)
                left = right
            concat = nextconcat
            if left is None and right is None:
                return tuple(out)


def parse_rsl(text: str) -> Node:
    """Parse RSL text into its tree (variables not yet substituted).

    Raises:
        RSLError: The text is not RSL (the message starts with ``line L:C:``).
    """
    p = _Parser(text)
    node = p.rsl()
    p.skip()
    if p.n < len(text):
        raise p.fail("junk at end of RSL")
    return node


def _eval_term(term: Term, table: Mapping[str, str], p: _Parser) -> Value:
    if isinstance(term, Literal):
        return term.text
    if isinstance(term, Variable):
        return table.get(term.name, "")
    if isinstance(term, Sequence):
        return tuple(_eval_term(t, table, p) for t in term.items)
    left = _eval_term(term.left, table, p)
    right = _eval_term(term.right, table, p)
    if not isinstance(left, str) or not isinstance(right, str):
        raise p.fail("a sequence cannot be concatenated", term.pos)
    return left + right


@dataclass(frozen=True, slots=True)
class Evaluated:
    """An evaluated boolean node: operator and children (relations or nested booleans)."""

    op: str
    children: tuple[Evaluated | Relation, ...]
    line: int
    column: int


def evaluate(text: str) -> Evaluated | Relation:
    """Parse and evaluate RSL text: variables substituted with ``rsl_substitution`` scoping.

    A binding is visible to the later relations of the same boolean and everything nested in them;
    each job of a top-level ``+`` starts with an empty table; an undefined variable is ``""``.

    Raises:
        RSLError: Syntax error, or a malformed ``rsl_substitution`` / sequence concatenation.
    """
    p = _Parser(text)
    node = p.rsl()
    p.skip()
    if p.n < len(text):
        raise p.fail("junk at end of RSL")
    return _eval_node(node, {}, p)


def _eval_node(node: Node, table: Mapping[str, str], p: _Parser) -> Evaluated | Relation:
    if isinstance(node, Condition):
        line, col = p.where(node.pos)
        values = tuple(_eval_term(t, table, p) for t in node.values)
        return Relation(normalise_name(node.name), node.name, node.op, values, line, col)
    local = dict(table)
    children: list[Evaluated | Relation] = []
    for child in node.children:
        done = _eval_node(child, {} if node.op == "+" else local, p)
        if isinstance(done, Relation) and done.name == "rslsubstitution":
            for value in done.values:
                if not isinstance(value, tuple) or len(value) != 2 or not all(isinstance(v, str) for v in value):
                    raise RSLError("rsl_substitution values must be (NAME value) pairs", done.line, done.column)
                local[str(value[0])] = str(value[1])
        children.append(done)
    line, col = p.where(node.pos)
    return Evaluated(node.op, tuple(children), line, col)
