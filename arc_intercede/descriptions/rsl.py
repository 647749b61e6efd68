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
from itertools import accumulate
from operator import itemgetter
from typing import Any, Final, TypeAlias, Union

__all__ = [
    "BOOL_OPS", "REL_OPS", "Boolean", "Concat", "Condition", "Literal", "Node", "RSLError", "Relation",
    "Sequence", "Value", "Variable", "evaluate", "normalise_name", "parse_rsl",
]

BOOL_OPS: Final = frozenset("&|+")
REL_OPS: Final = ("=", "!=", "<", "<=", ">", ">=")
# One token with the whitespace and comments before it (ARC's parser skips them before every
# token), as findall groups (all, whitespace, token, caret delimiter, unclosed rest). The token is a
# bare word, a "…", '…' or ^D…D string (doubling escapes; possessive, so a doubled quote at the end
# never closes it), a relation operator, one punctuation character, or "" at the end. An unclosed
# quote or comment takes the rest of the text as the last group: the parser stops there.
_TOKEN: Final = re.compile(
    r"(((?:[ \t\n\v\f\r]++|\((?=\*)[\s\S]*?\*\))*+)"
    r"(?:([^+&|()=<>!\"'^#$ \t\n\v\f\r]++"
    r'|"[^"]*+(?:""[^"]*+)*+"'
    r"|'[^']*+(?:''[^']*+)*+'"
    r"|\^([\s\S])(?:(?!\4)[\s\S])*+(?:\4\4(?:(?!\4)[\s\S])*+)*+\4"
    r"|!=|<=|>=|[=<>]"
    r"|\((?!\*)|[)&|+#$!]"
    r"|\Z)"
    r"|([\"'^(][\s\S]*+)))"
)
_REL_OPS: Final = frozenset(REL_OPS)
_NOT_BARE: Final = frozenset("+&|()=<>!\"'^#$")
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
        # (token with its leading whitespace, whitespace, token, caret delimiter, unclosed rest)
        toks: list[tuple[str, str, str, str, str]] = _TOKEN.findall(text)
        self.toks = toks
        self.raw = raw = [t[2] for t in toks]
        self.ends = list(accumulate(map(len, map(itemgetter(0), toks))))
        if len(toks) > 1 and toks[-2][4]:  # an unclosed quote or comment: the parser stops there
            rest = toks[-2][4]
            raw[-2] = "(*" if rest[0] == "(" else rest[0]
        self.i = 0

    def start(self, i: int) -> int:
        """Offset of token ``i`` in the text."""
        t = self.toks[i]
        return self.ends[i] - len(t[2]) - len(t[4])

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
        line, col = self.where(self.start(self.i) if pos is None else pos)
        return RSLError(reason, line, col)

    def peek(self) -> str:
        """The next token (what ARC's parser sees after skipping whitespace and comments)."""
        tok = self.raw[self.i]
        if tok == "(*":
            raise self.fail("end of comment not found")
        return tok

    def rsl(self, table: dict[str, str]) -> Any:
        """A boolean or a condition: ``Node`` with ``tree``, else ``Evaluated | Relation``."""
        c = self.peek()
        first = self.i
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
                return Boolean(c, tuple(children), self.start(first))
            return Evaluated(c, tuple(children), *self.where(self.start(first)))
        name = self.string(c)
        if name is None:
            raise self.fail("attribute name expected")
        if not name or _INVALID_NAME.search(name):
            raise self.fail(f"attribute name {name!r} contains an invalid character", self.start(first))
        op = self.peek()
        if op not in _REL_OPS:
            raise self.fail("relation operator expected")
        self.i += 1
        values = self.values(table)
        if self.tree:
            return Condition(name, op, values, self.start(first))
        return Relation(normalise_name(name), name, op, values, *self.where(self.start(first)))

    def _bind(self, rel: Relation, local: dict[str, str]) -> None:
        for value in rel.values:
            if not isinstance(value, tuple) or len(value) != 2 or not all(isinstance(v, str) for v in value):
                if self.error is None:
                    self.error = RSLError("rsl_substitution values must be (NAME value) pairs", rel.line, rel.column)
                return
            local[str(value[0])] = str(value[1])

    def string(self, tok: str) -> str | None:
        """The string that token ``tok`` (the current one) is, consumed; None if it is no string."""
        c = tok[:1]
        if c not in _NOT_BARE:  # a bare word, or "" (the end)
            if not c:
                return None
            self.i += 1
            return tok
        if c == '"' or c == "'":
            if len(tok) == 1:
                raise self.fail(f"end of {c}-quoted string not found")
            self.i += 1
            return tok[1:-1].replace(c + c, c)
        if c == "^":
            if len(tok) == 1:
                pos = self.start(self.i)
                if pos + 1 >= len(self.s):
                    raise self.fail("delimiter expected after '^'", pos + 1)
                raise self.fail(f"end of {self.s[pos + 1]}-quoted string not found")
            self.i += 1
            d = tok[1]
            return tok[2:-1].replace(d + d, d)
        return None

    def concat(self, left: Any, right: Any, at: int) -> Any:
        if self.tree:
            return Concat(left, right, self.start(at))
        if left.__class__ is str and right.__class__ is str:
            return left + right
        if self.error is None:
            self.error = self.fail("a sequence cannot be concatenated", self.start(at))
        return ""

    def values(self, table: dict[str, str]) -> tuple[Any, ...]:
        """Terms (``tree``) or evaluated values up to the first token that is not a value."""
        tree = self.tree
        toks = self.toks
        out: list[Any] = []
        left: Any = None
        concat = 0  # 0 none, 1 explicit '#', 2 implicit (adjacent)
        hash_at = 0
        while True:
            c = self.peek()
            if toks[self.i][1]:  # whitespace or a comment before it
                concat = 0
            if c == "#":
                hash_at = self.i
                self.i += 1
                c = self.peek()
                concat = 1
            at = self.i
            right: Any
            nextconcat = 0
            if c == "(":
                self.i += 1
                items = self.values(table)
                if self.peek() != ")":
                    raise self.fail("')' expected")
                self.i += 1
                right = Sequence(items, self.start(at)) if tree else items
            elif c == "$":
                self.i += 1
                if self.peek() != "(":
                    raise self.fail("'(' expected")
                self.i += 1
                var_at = self.i
                var = self.string(self.peek())
                if var is None:
                    raise self.fail("variable name expected")
                if _INVALID_NAME.search(var):
                    raise self.fail(f"variable name {var!r} contains an invalid character", self.start(var_at))
                if self.peek() != ")":
                    raise self.fail("')' expected")
                self.i += 1
                right = Variable(var, self.start(at)) if tree else table.get(var, "")
                nextconcat = 2
            else:
                right = self.string(c)
                if right is not None:
                    nextconcat = 2
                    if tree:
                        right = Literal(right, self.start(at))
            if concat == 1:
                if left is None:
                    raise self.fail("no left operand for concatenation operator", self.start(hash_at))
                if right is None:
                    raise self.fail("no right operand for concatenation operator")
                left = self.concat(left, right, hash_at)
            elif concat == 2 and left is not None:
                if right is not None:
                    left = self.concat(left, right, at)
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
    if p.peek() != "":
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
