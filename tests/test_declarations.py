"""Declarations are records checked when they are imported: a wrong field fails at import,
with the invariant's id in the message, never at the first drawn case."""

import subprocess
import sys
import textwrap

import pytest

from lstm_conformance.spec.errors import DeclarationError
from lstm_conformance.spec.invariants import INVARIANTS
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.strategies import Draws


def _declare(**fields):
    before = list(INVARIANTS)
    try:
        invariant(id="a-new-invariant", title="t", statement="s", expression="e", **fields)(
            lambda subject, case: None)
    finally:
        INVARIANTS[:] = before


def test_a_misspelt_case_keyword_names_the_invariant():
    with pytest.raises(DeclarationError, match="'a-new-invariant'.*unknown case restriction "
                       r"\['form'\]"):
        _declare(cases=dict(form=("batched",)))


@pytest.mark.parametrize(("fields", "problem"), [
    (dict(cases=dict(forms=("dense",))), "'dense' is not a valid Form"),
    (dict(cases=dict(dtypes=("float128",))), "unknown"),
    (dict(cases=dict(min_seq_len=5, max_seq_len=2)), "empty size range"),
    (dict(requires=("bidirectionl",)), "unknown capabilities"),
])
def test_impossible_declarations_fail_with_the_id(fields, problem):
    with pytest.raises(DeclarationError, match=f"'a-new-invariant'.*{problem}"):
        _declare(**fields)


def test_a_misspelt_keyword_in_a_chapter_fails_import_spec(tmp_path):
    """The whole path: a chapter with a misspelt keyword makes ``import lstm_conformance.spec``
    fail."""
    chapter = tmp_path / "bad_chapter.py"
    chapter.write_text(textwrap.dedent('''
        from lstm_conformance.spec.invariants.registry import invariant

        @invariant(id="misspelt-example", title="t", statement="s", expression="e",
                   cases=dict(bidirectionl=True))
        def check(subject, case):
            pass
    '''))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import lstm_conformance.spec; "
            "import bad_chapter")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "DeclarationError" in proc.stderr and "'misspelt-example'" in proc.stderr
    assert "bidirectionl" in proc.stderr


def test_draws_is_keyword_only():
    with pytest.raises(TypeError):
        Draws(("batched",))  # type: ignore[misc]


def test_ids_and_order_of_the_catalogue():
    """The catalogue's ids, in order: the first 25 are fixed; new chapters append."""
    assert [inv.id for inv in INVARIANTS][:25] == [
        "output-shapes", "last-step-forward", "first-step-backward", "stacked-layers",
        "batch-first", "matches-oracle", "cell-state-consistency", "time-reversal",
        "batch-independence", "batch-permutation", "causality", "state-continuation",
        "hx-none-is-zeros", "unbatched-is-batch-of-one", "packed-per-sequence",
        "packed-uniform-is-dense", "dropout-eval", "dropout-train-structure", "zero-weights",
        "gate-probe", "bounds", "gradients", "no-mutation", "determinism", "bad-input-raises"]
