"""Seeded defects: every invariant has teeth, and the reference the bugs are seeded into is clean.

``tests/defects`` holds a correct pure-torch drop-in LSTM (``ReferenceLSTM``) and one subclass
per realistic bug. Here:

* the unmutated reference passes every invariant, so a defect's failure is its bug's doing;
* each defect is *failed* by the invariants its ``catches`` declaration names, for the reason
  declared there (``tests/defects/declare.py``: the stable ``check`` key of the violation, and
  where it matters the tensor, the input and items of the shrunk case);
* every invariant in the catalogue is the expected catcher of at least one defect, or is
  listed in ``PURE_GUARDS`` with the reason it cannot be. The device contract's and the
  stress profile's defects (``tests/defects/devices.py``) count here; they are run on the
  meta device and at the stress profile by ``tests/test_devices.py``.

Each defect is checked only against its expected catchers (many more invariants fail on most
of them; see each defect's docstring). The checks run under the "default" profile with a
fixed seed and no example database (so a verdict never depends on earlier runs), and
torch's global generator seeded for dropout.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from hypothesis import settings

from lstm_conformance.profiles import invariants_for, profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import INVARIANTS, by_id
from tests import defects as d
from tests.defects.devices import DEVICE_DEFECTS, STRESS_DEFECTS

SEED = 0
# No example database: a verdict here must never depend on an earlier run.
SETTINGS = settings(profile_settings("default"), database=None)


#: Invariants that no seeded defect is expected to fail, with the reason.
PURE_GUARDS: dict[str, str] = {
    "device-matches-cpu": "it compares values computed on a device besides the CPU, and the "
    "project's tests have none (meta computes no values); tools/device_check.sh runs it on "
    "a GPU",
}
#: The checks of the default profile that apply on the CPU (the device contract does not).
ON_THE_CPU = [inv.id for inv in invariants_for("default") if inv.chapter != "device"]


def _check(defect: type, invariant_id: str, leave_out: frozenset[str] = frozenset()):
    subject = Subject(defect.__name__, defect).restricted(leave_out)
    with torch.random.fork_rng():  # dropout draws from torch's global generator
        torch.manual_seed(SEED)
        return run_check(subject, by_id(invariant_id), SETTINGS, SEED, explore=False)


@pytest.mark.parametrize("invariant_id", ON_THE_CPU)
def test_reference_passes(invariant_id):
    outcome = _check(d.ReferenceLSTM, invariant_id)
    assert outcome.status == "passed", (outcome.message, outcome.counterexample)


@pytest.mark.parametrize("defect", d.DEFECTS, ids=lambda cls: cls.__name__)
def test_defect_is_caught(defect):
    wrong = []
    for invariant_id, caught in defect.catches.items():
        outcome = _check(defect, invariant_id)
        # one of the check's distinct failures is the declared one
        mismatched = [caught.mismatches(f["counterexample"]) for f in outcome.failures
                      if f["status"] == "failed"] or [{"status": outcome.status}]
        if all(mismatched):
            wrong.append(f"{invariant_id}: {outcome.status}, expected failed as {caught}; "
                         f"got {mismatched}; message {outcome.message!r}")
    assert not wrong, f"{defect.__name__}:\n  " + "\n  ".join(wrong)


#: Checks of a fresh module at tiny sizes, as the suite made them before the lifecycle
#: machine and block-boundaries: the defects those two exist for must pass them all.
FRESH_MODULE_CHECKS = ("matches-oracle", "state-continuation", "batch-independence",
                       "determinism", "dropout-train-structure", "gradients")


@pytest.mark.parametrize("defect", d.LIFECYCLE_DEFECTS + d.SCALE_DEFECTS,
                         ids=lambda cls: cls.__name__)
def test_lifecycle_and_scale_defects_are_missed_by_fresh_module_checks(defect):
    caught = {inv: _check(defect, inv).status for inv in FRESH_MODULE_CHECKS}
    assert set(caught.values()) == {"passed"}, caught


#: The checks before the module contract that could have seen its defects, run as they ran
#: then: the capabilities that draw views, calls without grad and frozen weights left out.
#: (All 27 earlier checks, measured once: `python -m tests.module_defects_before`.)
BEFORE_MODULE_CONTRACT = ("matches-oracle", "gradients", "determinism", "no-mutation",
                          "dropout-train-structure", "dropout-eval", "lifecycle")
CALLS_BEFORE = frozenset({"strided", "no_grad", "frozen_weights"})


@pytest.mark.parametrize("defect", d.MODULE_DEFECTS, ids=lambda cls: cls.__name__)
def test_module_defects_are_missed_by_the_checks_before_them(defect):
    caught = {inv: _check(defect, inv, CALLS_BEFORE).status for inv in BEFORE_MODULE_CONTRACT}
    assert set(caught.values()) <= {"passed", "not_applicable"}, caught


def test_every_defect_declares_its_catches_and_hint():
    from lstm_conformance.hints import RULES

    hints = {rule.id for rule in RULES}
    assert len(d.DEFECTS) >= 28
    for defect in d.DEFECTS:
        assert defect.catches, defect.__name__
        assert defect.hint in hints, (defect.__name__, defect.hint)


def test_every_invariant_has_teeth():
    known = {inv.id for inv in INVARIANTS}
    expected = {inv_id for defect in d.DEFECTS + DEVICE_DEFECTS + STRESS_DEFECTS
                for inv_id in defect.catches}
    assert expected <= known, f"unknown invariant ids in catches: {sorted(expected - known)}"
    assert set(PURE_GUARDS) <= known, f"unknown ids in PURE_GUARDS: {set(PURE_GUARDS) - known}"
    assert not set(PURE_GUARDS) & expected, "a pure guard is also expected to catch a defect"
    toothless = known - expected - set(PURE_GUARDS)
    assert not toothless, f"no seeded defect is expected to fail {sorted(toothless)}"


@pytest.mark.parametrize("defect", d.DEFECTS, ids=lambda cls: cls.__name__)
def test_defect_is_one_documented_bug(defect):
    """Each defect subclasses the reference, overrides one or two hooks, and its docstring
    names every invariant the table expects to catch it."""
    assert issubclass(defect, d.ReferenceLSTM) and defect is not d.ReferenceLSTM
    doc = " ".join((inspect.getdoc(defect) or "").split())
    assert "Bug:" in doc and "Caught by" in doc
    undocumented = [inv_id for inv_id in defect.catches if inv_id not in doc]
    assert not undocumented, f"the docstring does not mention {undocumented}"
    hooks = [name for name, value in vars(defect).items()
             if callable(value) and not name.startswith("__") and name not in ("catches", "hint")]
    assert 1 <= len(hooks) <= 2, hooks
