"""A capability declared unsupported never reaches the implementation, in any check.

The README promises it: what an implementation declares in ``lstm_conformance_unsupported``
is never drawn. ``tests/test_strategies.py`` shows it of the case strategy; these tests
show it of what the implementation actually receives, call by call, over every invariant
of the quick profile (``tests/declaration_leaks.py`` records each call): the checks' own
slices, earlier results passed on as input or state, the lifecycle machine and its tours,
the autograd modes a check loops over.

Each capability is tested on its own; a control shows that, with nothing declared, every
capability does reach some check (so a capability the recorder cannot see fails the
control, not silently passes). ``seeded_dropout`` is not visible in one call; its test
checks the meaning instead: masks from another generator pass when it is declared, and fail
``dropout-seeded`` when it is not.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import torch
from hypothesis import settings
from torch import nn

from lstm_conformance.profiles import profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.spec.capabilities import FEATURES
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id
from tests.declaration_leaks import leaks, uses_by_check

PROFILE, SEED = "quick", 0
#: Capabilities a forward call shows (``seeded_dropout`` is about the generator behind it).
VISIBLE = sorted(set(FEATURES) - {"seeded_dropout"})


def test_with_nothing_declared_every_capability_reaches_some_check():
    used = set()
    for calls in uses_by_check(frozenset(), PROFILE, SEED).values():
        for call in calls:
            used |= call
    assert set(VISIBLE) - used == set()


@pytest.mark.parametrize("capability", VISIBLE)
def test_a_capability_declared_unsupported_reaches_no_check(capability):
    assert leaks(capability, PROFILE, SEED) == {}, (
        f"checks that still hand '{capability}' to an implementation declaring it "
        "unsupported (check: calls)")


class MasksFromItsOwnSeed(nn.LSTM):
    """Dropout masks that do not follow ``torch.manual_seed``: each call draws them after
    seeding torch's generator from a call counter of its own (as a framework with its own
    random stream does), so they are fresh on every call but the same global seed does not
    repeat them."""

    def forward(self, input, hx=None):
        self.calls = getattr(self, "calls", 0) + 1
        with torch.random.fork_rng():
            torch.manual_seed(1000 + self.calls)
            return super().forward(input, hx)


class DeclaresMasksFromItsOwnSeed(MasksFromItsOwnSeed):
    lstm_conformance_unsupported = frozenset({"seeded_dropout"})


@pytest.mark.parametrize(("lstm", "status", "kind"), [
    (MasksFromItsOwnSeed, "failed", "dropout-seeded"),
    (DeclaresMasksFromItsOwnSeed, "passed", None),
])
def test_seeded_dropout_declared_unsupported_is_not_asked_for(lstm, status, kind):
    subject = Subject(lstm.__name__, lstm, getattr(lstm, "lstm_conformance_unsupported",
                                                   frozenset()))
    outcome = run_check(subject, by_id("dropout-distribution"),
                        settings(profile_settings(PROFILE), database=None), SEED,
                        explore=False)
    assert outcome.status == status, outcome.message
    assert [f["kind"] for f in outcome.failures][:1] == ([kind] if kind else [])


def test_the_readme_says_what_each_declaration_keeps_away():
    """Where users read declarations, one row per capability name (the dtypes share one)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    after = readme[readme.index("| capability | never handed to it"):].splitlines()[2:]
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), after))
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert named == set(FEATURES)
