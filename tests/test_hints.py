"""Hints come from the seeded defects' declarations: each defect names its bug class
(``hint``) and the checks that catch it (``catches``); the rule that its catches trigger
must be that class. How often real runs get the right top hint is measured separately
(``python -m tests.measure_hints``, figures in docs/HINTS.md)."""

import pytest

from conformance.hints import RULES, hint, hint_rule
from spec.invariants import INVARIANTS
from tests import defects as d

ALL = {inv.id for inv in INVARIANTS}


def declared_evidence(defect: type) -> set[str]:
    """What a run that fails exactly the declared catches shows: their invariant ids and
    check keys."""
    names = set(defect.catches)
    for caught in defect.catches.values():
        names |= {caught.check} if isinstance(caught.check, str) else set(caught.check)
    if any(caught.near_miss for caught in defect.catches.values()):
        names.add("near-miss")
    if any(caught.check == "shape" and "batch_first" in str(caught.input)
           for caught in defect.catches.values()):
        names.add("shape-batch-first")
    return names


@pytest.mark.parametrize("defect", d.DEFECTS, ids=lambda cls: cls.__name__)
def test_the_declared_catches_give_the_declared_hint(defect):
    rule = hint_rule(declared_evidence(defect), ALL)
    assert rule is not None and rule.id == defect.hint, (rule and rule.id, defect.hint)


def test_every_rule_is_some_defects_class():
    """A rule no seeded defect stands for is a guess nobody has checked."""
    assert {rule.id for rule in RULES} == {defect.hint for defect in d.DEFECTS}


def test_hint_needs_evidence():
    assert hint(set(), {"gate-probe"}) is None
    # "Only gate-probe fails" says nothing when nothing else was checked.
    assert hint({"gate-probe"}, {"gate-probe", "matches-oracle"}) is None
