"""Token-level edge cases of the RSL reader: quotes, comments, concatenation, positions.

Each expectation is what the character-by-character reader this one replaced gave (and, for the
valid texts, what ARC 7 reads); together with the differential suite they pin the regex tokeniser.
"""

from __future__ import annotations

import dataclasses

import pytest

from arc_intercede.descriptions.model import InputFile, JobDescription, evolve
from arc_intercede.descriptions.rsl import Concat, Relation, RSLError, Sequence, evaluate, parse_rsl


def _values(text: str) -> list[tuple[str, ...]]:
    tree = evaluate(text)
    assert not isinstance(tree, Relation)
    return [rel.values for rel in tree.children if isinstance(rel, Relation)]


@pytest.mark.parametrize(("text", "values"), [
    ('&(a="a""")', [('a"',)]),
    ('&(a="""")', [('"',)]),
    ("&(c = 'd''e')", [("d'e",)]),
    ("&(a=^xaxxbx)", [("axb",)]),
    ("&(a=^(a()", [("a",)]),  # any character delimits, "(" included
    ("&(*)(a=b)", [("b",)]),  # "(*)" is a whole comment
    ("&(a=b) (*x*) ", [("b",)]),
    ('&(a="x(*y")', [("x(*y",)]),  # no comment inside a string (ARC's pre-scan differs, see README)
    ("&(a=(b)c)", [(("b",), "c")]),
    ("&(a=$  ( x ) )", [("",)]),
    ("&(rsl_substitution=(X y))(a=$(X)c # d)", [(("X", "y"),), ("ycd",)]),
    ("&(a=)", [()]),
])
def test_values(text: str, values: list[tuple[str, ...]]) -> None:
    assert _values(text) == values


@pytest.mark.parametrize(("text", "line", "column", "reason"), [
    ('&(a="""', 1, 5, 'end of "-quoted string not found'),
    ("&(a=^", 1, 6, "delimiter expected after '^'"),
    ("&(a=^xaxx", 1, 5, "end of x-quoted string not found"),
    ("&(a=b)(*", 1, 7, "end of comment not found"),
    ("&(a=b(*c", 1, 6, "end of comment not found"),
    ("&(a = #b)", 1, 7, "no left operand for concatenation operator"),
    ("&(a = b# #c)", 1, 10, "no right operand for concatenation operator"),
    ('&("a&b"=c)', 1, 3, "attribute name 'a&b' contains an invalid character"),
    ('&(""=c)', 1, 3, "attribute name '' contains an invalid character"),
    ('&(a=$("x&"))', 1, 7, "variable name 'x&' contains an invalid character"),
    ("&(a=$x)", 1, 6, "'(' expected"),
    ("&(a!b)", 1, 4, "relation operator expected"),
    ("&(a=b)junk", 1, 7, "junk at end of RSL"),
    ("&\n(a=\nb)\n(c = 'd)", 4, 6, "end of '-quoted string not found"),
    (" ", 1, 2, "attribute name expected"),
    ("&(a=(b)#c)", 1, 8, "a sequence cannot be concatenated"),
    ("&(a=(b)#c)(x=^", 1, 15, "delimiter expected after '^'"),  # a syntax error comes first
])
def test_errors(text: str, line: int, column: int, reason: str) -> None:
    with pytest.raises(RSLError) as err:
        evaluate(text)
    assert (err.value.line, err.value.column, err.value.reason) == (line, column, reason)


def test_positions_of_relations_and_tree_terms() -> None:
    tree = evaluate("(*c*)&(a=b)\n  ( 'c' = d)")
    assert not isinstance(tree, Relation)
    assert (tree.line, tree.column) == (1, 6)
    assert [(r.line, r.column) for r in tree.children if isinstance(r, Relation)] == [(1, 8), (2, 5)]
    node = parse_rsl('&(a=c"x"(b))')
    cond = node.children[0]  # type: ignore[union-attr]
    concat = cond.values[0]  # type: ignore[union-attr]
    assert isinstance(concat, Concat) and isinstance(concat.right, Sequence)
    assert (concat.pos, concat.right.pos, concat.left.pos) == (8, 8, 5)  # type: ignore[union-attr]


def test_evolve_is_dataclasses_replace() -> None:
    job = JobDescription(executable="x", inputs=(InputFile(name="a"),), queue="q")
    assert evolve(job, queue=None, inputs=()) == dataclasses.replace(job, queue=None, inputs=())
    assert evolve(job) == job and evolve(job) is not job
    assert evolve(InputFile(name="a"), executable=True) == InputFile(name="a", executable=True)
    with pytest.raises(TypeError, match="no field 'nope'"):
        evolve(job, nope=1)
