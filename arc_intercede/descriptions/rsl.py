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
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, Union

__all__ = [
    "BOOL_OPS", "REL_OPS", "Boolean", "Concat", "Condition", "Literal", "Node", "RSLError", "Relation",
    "Sequence", "Value", "Variable", "evaluate", "normalise_name", "parse_rsl",
]

BOOL_OPS: Final = frozenset("&|+")
REL_OPS: Final = ("=", "!=", "<", "<=", ">", ">=")
# One token after any whitespace and comments (which ARC's parser skips before every token):
# a bare word, a "…", '…' or ^D…D string (doubling escapes; possessive, so a doubled quote at the
# end never closes it), a relation operator, one other character, or the end. An unclosed quote
# or comment does not match its alternative and comes out as a single character.
_TOKEN: Final = re.compile(
    r"(?:[ \t\n\v\f\r]++|\((?=\*)[\s\S]*?\*\))*+"
    r"(?:(?P<w>[^+&|()=<>!\"'^#$ \t\n\v\f\r]++)"
    r'|"(?P<q>[^"]*+(?:""[^"]*+)*+)"'
    r"|'(?P<a>[^']*+(?:''[^']*+)*+)'"
    r"|\^(?P<cd>[\s\S])(?P<c>(?:(?!(?P=cd))[\s\S])*+(?:(?P=cd)(?P=cd)(?:(?!(?P=cd))[\s\S])*+)*+)(?P=cd)"
    r"|(?P<o>!=|<=|>=|[=<>])"
    r"|(?P<p>[\s\S])"
    r"|(?P<z>\Z))"
)
_LAST: Final = frozenset({"Z", "C", '"', "'", "^"})
"""Token kinds after which nothing is read: the end, an unclosed comment or quote (always an error)."""
_INVALID_NAME: Final = re.compile(r"[+&|()=<>!\"'^#$]")


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


@dataclass(frozen=True, slots=True)
class Evaluated:
    """An evaluated boolean node: operator and children (relations or nested booleans)."""

    op: str
    children: tuple[Evaluated | Relation, ...]
    line: int
    column: int


class _Parser:
    """Recursive descent over the tokens of one compiled regex (:data:`_TOKEN`).

    With ``tree`` the result is the syntax tree (:class:`Boolean`, :class:`Condition`, terms);
    otherwise values are evaluated while they are read (strings and tuples, variables substituted
    from the bindings seen so far), which is what :func:`evaluate` returns. An evaluation error is
    kept and raised only once the whole text has parsed, so a syntax error anywhere comes first.
    """

    def __init__(self, text: str, *, tree: bool) -> None:
        self.s = text
        self.tree = tree
        self.error: RSLError | None = None
        self._lines: list[int] | None = None
        kinds: list[str] = []
        values: list[str] = []
        starts: list[int] = []
        spaced: list[bool] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup or ""
            start = m.start(kind)
            value = m.group(kind)
            if kind == "w":
                kind = "S"
            elif kind == "q":
                kind, value, start = "S", value.replace('""', '"'), start - 1
            elif kind == "a":
                kind, value, start = "S", value.replace("''", "'"), start - 1
            elif kind == "c":
                delim = m.group("cd")
                kind, value, start = "S", value.replace(delim + delim, delim), start - 2
            elif kind == "o":
                kind = "O"
            elif kind == "p":
                kind = "C" if value == "(" and text.startswith("*", start + 1) else value
            else:
                kind = "Z"
            kinds.append(kind)
            values.append(value)
            starts.append(start)
            spaced.append(m.start() != start)
            if kind in _LAST:  # the end, or a token the parser stops at with an error
                break
        self.kinds, self.values_, self.starts, self.spaced = kinds, values, starts, spaced
        self.i = 0

    def where(self, pos: int) -> tuple[int, int]:
        lines = self._lines
        if lines is None:
            lines = self._lines = []
            i = self.s.find("\n")
            while i >= 0:
                lines.append(i)
                i = self.s.find("\n", i + 1)
        k = bisect_left(lines, pos)
        start = lines[k - 1] + 1 if k else 0
        return k + 1, pos - start + 1

    def fail(self, reason: str, pos: int | None = None) -> RSLError:
        line, col = self.where(self.starts[self.i] if pos is None else pos)
        return RSLError(reason, line, col)

    def peek(self) -> str:
        """The next token's kind (what ARC's parser sees after skipping whitespace and comments)."""
        kind = self.kinds[self.i]
        if kind == "C":
            raise self.fail("end of comment not found")
        return kind

    def rsl(self, table: dict[str, str]) -> Any:
        """A boolean or a condition: ``Node`` with ``tree``, else ``Evaluated | Relation``."""
        c = self.peek()
        start = self.starts[self.i]
        if c == "&" or c == "|" or c == "+":
            self.i += 1
            children: list[Any] = []
            local = dict(table)
            while True:
                if self.peek() != "(":
                    raise self.fail("'(' expected")
                self.i += 1
                child = self.rsl({} if c == "+" else local)
                children.append(child)
                if not self.tree and child.__class__ is Relation and child.name == "rslsubstitution":
                    self._bind(child, local)
                if self.peek() != ")":
                    raise self.fail("')' expected")
                self.i += 1
                if self.peek() != "(":
                    break
            if self.tree:
                return Boolean(c, tuple(children), start)
            return Evaluated(c, tuple(children), *self.where(start))
        name = self.string(c)
        if name is None:
            raise self.fail("attribute name expected")
        if not name or _INVALID_NAME.search(name):
            raise self.fail(f"attribute name {name!r} contains an invalid character", start)
        if self.peek() != "O":
            raise self.fail("relation operator expected")
        op = self.values_[self.i]
        self.i += 1
        values = self.values(table)
        if self.tree:
            return Condition(name, op, values, start)
        return Relation(normalise_name(name), name, op, values, *self.where(start))

    def _bind(self, rel: Relation, local: dict[str, str]) -> None:
        for value in rel.values:
            if not isinstance(value, tuple) or len(value) != 2 or not all(isinstance(v, str) for v in value):
                if self.error is None:
                    self.error = RSLError("rsl_substitution values must be (NAME value) pairs", rel.line, rel.column)
                return
            local[str(value[0])] = str(value[1])

    def string(self, kind: str) -> str | None:
        """The string at the current token of ``kind`` (None: not a string), consumed."""
        if kind == "S":
            self.i += 1
            return self.values_[self.i - 1]
        if kind == '"' or kind == "'" or kind == "^":
            raise self._unterminated(self.starts[self.i])
        return None

    def _unterminated(self, start: int) -> RSLError:
        """The error for a quote the tokeniser could not close (ARC's wording and position)."""
        s = self.s
        c = s[start]
        if c == "^":
            if start + 1 >= len(s):
                return self.fail("delimiter expected after '^'", start + 1)
            c = s[start + 1]
        return self.fail(f"end of {c}-quoted string not found", start)

    def concat(self, left: Any, right: Any, pos: int) -> Any:
        if self.tree:
            return Concat(left, right, pos)
        if left.__class__ is str and right.__class__ is str:
            return left + right
        if self.error is None:
            self.error = self.fail("a sequence cannot be concatenated", pos)
        return ""

    def values(self, table: dict[str, str]) -> tuple[Any, ...]:
        """Terms (``tree``) or evaluated values up to the first token that is not a value."""
        tree = self.tree
        starts, spaced = self.starts, self.spaced
        out: list[Any] = []
        left: Any = None
        concat = 0  # 0 none, 1 explicit '#', 2 implicit (adjacent)
        hash_pos = 0
        while True:
            c = self.peek()
            if spaced[self.i]:
                concat = 0
            if c == "#":
                hash_pos = starts[self.i]
                self.i += 1
                c = self.peek()
                concat = 1
            pos = starts[self.i]
            right: Any
            nextconcat = 0
            if c == "(":
                self.i += 1
                items = self.values(table)
                if self.peek() != ")":
                    raise self.fail("')' expected")
                self.i += 1
                right = Sequence(items, pos) if tree else items
            elif c == "$":
                self.i += 1
                if self.peek() != "(":
                    raise self.fail("'(' expected")
                self.i += 1
                var_pos = starts[self.i]
                var = self.string(self.peek())
                if var is None:
                    raise self.fail("variable name expected")
                if _INVALID_NAME.search(var):
                    raise self.fail(f"variable name {var!r} contains an invalid character", var_pos)
                if self.peek() != ")":
                    raise self.fail("')' expected")
                self.i += 1
                right = Variable(var, pos) if tree else table.get(var, "")
                nextconcat = 2
            else:
                right = self.string(c)
                if right is not None:
                    nextconcat = 2
                    if tree:
                        right = Literal(right, pos)
            if concat == 1:
                if left is None:
                    raise self.fail("no left operand for concatenation operator", hash_pos)
                if right is None:
                    raise self.fail("no right operand for concatenation operator")
                left = self.concat(left, right, hash_pos)
            elif concat == 2 and left is not None:
                if right is not None:
                    left = self.concat(left, right, pos)
            else:
                if left is not None:
                    out.append(left)
                left = right
            concat = nextconcat
            if left is None and right is None:
                return tuple(out)


def _parse(text: str, *, tree: bool) -> Any:
    p = _Parser(text, tree=tree)
    node = p.rsl({})
    if p.peek() != "Z":
        raise p.fail("junk at end of RSL")
    if p.error is not None:
        raise p.error
    return node


def parse_rsl(text: str) -> Node:
    """Parse RSL text into its tree (variables not yet substituted).

    Raises:
        RSLError: The text is not RSL (the message starts with ``line L:C:``).
    """
    node: Node = _parse(text, tree=True)
    return node


def evaluate(text: str) -> Evaluated | Relation:
    """Parse and evaluate RSL text: variables substituted with ``rsl_substitution`` scoping.

    A binding is visible to the later relations of the same boolean and everything nested in them;
    each job of a top-level ``+`` starts with an empty table; an undefined variable is ``""``.

    Raises:
        RSLError: Syntax error, or a malformed ``rsl_substitution`` / sequence concatenation.
    """
    result: Evaluated | Relation = _parse(text, tree=False)
    return result
