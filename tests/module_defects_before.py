"""The module contract's seeded defects against every check that existed before it.

Each defect of ``MODULE_DEFECTS`` runs through every invariant outside the module chapter,
as those checks ran before the contract (views, calls without grad and frozen weights left
out: ``tests.test_seeded_defects.CALLS_BEFORE``), at the default profile and seed 0. Every
cell should read ``passed`` (or ``not_applicable``): the defects are invisible to the
suite as it was. Prints a Markdown table; from the repository root::

    python -m tests.module_defects_before
"""

from __future__ import annotations

import warnings

import torch
from hypothesis import settings

from lstm_conformance.profiles import profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import INVARIANTS
from tests.defects import MODULE_DEFECTS
from tests.test_seeded_defects import CALLS_BEFORE


def main() -> None:
    warnings.simplefilter("ignore")
    checks = [inv for inv in INVARIANTS if inv.chapter != "module"]
    config = settings(profile_settings("default"), database=None)
    print("| defect | checks before the module contract | not passed |")
    print("|---|---|---|")
    for defect in MODULE_DEFECTS:
        subject = Subject(defect.__name__, defect).restricted(CALLS_BEFORE)
        bad = []
        for inv in checks:
            with torch.random.fork_rng():
                torch.manual_seed(0)
                outcome = run_check(subject, inv, config, 0, explore=False)
            if outcome.status not in ("passed", "not_applicable"):
                bad.append(f"{inv.id}: {outcome.status}")
        print(f"| {defect.__name__} | {len(checks)} | {', '.join(bad) or 'none'} |", flush=True)


if __name__ == "__main__":
    main()
