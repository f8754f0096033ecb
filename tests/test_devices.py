"""Devices and production sizes: ``--lstm-device``, the device contract (chapter 12) and the
``stress`` profile (chapter 13).

No GPU is assumed anywhere. The device code paths run here on the ``meta`` device, where
torch computes shapes, dtypes and devices but no values: that is all the placement and
mismatch checks read, so their seeded defects are caught there for real; the checks that
compare values (device-matches-cpu, and every other chapter on a device) need a device with
values, which ``tools/device_check.sh`` runs where a GPU is lent. Packed input is left out
on meta: ``pad_packed_sequence`` reads values, so a Python implementation cannot unpack it
there (nn.LSTM itself can).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import settings

from lstm_conformance.profiles import invariants_for, profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject, to_device
from lstm_conformance.spec.invariants import by_id
from tests import defects as d
from tests.defects.devices import (
    DEVICE_DEFECTS,
    STRESS_DEFECTS,
    BatchIndexWrapsPast256,
    CellResetPast65536Steps,
    RecurrencePast1024UnitsDropped,
)

SEED = 0
DEFAULT = settings(profile_settings("default"), database=None)
STRESS = settings(profile_settings("stress"), database=None)
DEVICE_CHECKS = ("device-placement", "device-mismatch-refused", "device-matches-cpu")
#: What meta cannot do (see the module docstring).
NOT_ON_META = frozenset({"packed"})


def _check(impl, invariant_id: str, device: str = "cpu", at=DEFAULT):
    subject = Subject(impl.__name__, impl, device=device)
    if device == "meta":
        subject = subject.restricted(NOT_ON_META)
    return run_check(subject, by_id(invariant_id), at, SEED, explore=False)


def _caught(defect, outcome) -> list[dict]:
    """What in each failure differs from the defect's declaration (an empty dict: caught
    as declared)."""
    caught = next(iter(defect.catches.values()))
    return [caught.mismatches(f["counterexample"]) for f in outcome.failures
            if f["status"] == "failed"]


# -- the device contract --------------------------------------------------------------------

@pytest.mark.parametrize("invariant_id", DEVICE_CHECKS)
def test_device_contract_does_not_apply_on_the_cpu(invariant_id):
    outcome = _check(d.ReferenceLSTM, invariant_id)
    assert outcome.status == "not_applicable", outcome.message
    assert "--lstm-device" in outcome.message


@pytest.mark.parametrize("impl", [d.ReferenceLSTM, torch.nn.LSTM], ids=lambda c: c.__name__)
@pytest.mark.parametrize("invariant_id", DEVICE_CHECKS[:2])
def test_the_reference_and_nn_lstm_keep_the_device_contract_on_meta(impl, invariant_id):
    outcome = _check(impl, invariant_id, "meta")
    assert outcome.status == "passed", (outcome.message, outcome.counterexample)


def test_values_are_not_compared_on_meta():
    outcome = _check(torch.nn.LSTM, "device-matches-cpu", "meta")
    assert outcome.status == "not_applicable"
    assert "no values" in outcome.message


@pytest.mark.parametrize("defect", DEVICE_DEFECTS, ids=lambda c: c.__name__)
def test_device_defects_are_caught_on_meta(defect):
    (invariant_id,) = defect.catches
    outcome = _check(defect, invariant_id, "meta")
    assert outcome.status == "failed", outcome.message
    assert {} in _caught(defect, outcome), (outcome.message, _caught(defect, outcome))


@pytest.mark.parametrize("defect", DEVICE_DEFECTS, ids=lambda c: c.__name__)
def test_device_defects_are_right_on_the_cpu(defect):
    """They go wrong only across devices: on the CPU they answer as nn.LSTM does."""
    assert _check(defect, "matches-oracle").status == "passed"


def test_an_expanded_state_stays_expanded_on_the_device():
    h0 = torch.randn(2, 1, 3).expand(2, 5, 3)
    moved = to_device(h0, torch.device("meta"))
    assert moved.device.type == "meta" and moved.shape == h0.shape
    assert moved.stride(1) == 0


def test_on_the_cpu_nothing_is_moved():
    x = torch.randn(3, 2, 4)
    assert to_device(x, torch.device("cpu")) is x


# -- production sizes -------------------------------------------------------------------------

def test_the_stress_profile_runs_only_the_production_size_checks():
    stress = {inv.id for inv in invariants_for("stress")}
    assert stress == {"stress-batch", "stress-hidden-size", "stress-seq-len"}
    assert not stress & {inv.id for inv in invariants_for("default")}


@pytest.mark.parametrize("invariant_id", ["stress-batch", "stress-hidden-size"])
def test_the_reference_passes_at_production_sizes(invariant_id):
    outcome = _check(d.ReferenceLSTM, invariant_id, at=STRESS)
    assert outcome.status == "passed", (outcome.message, outcome.counterexample)


def test_a_batch_wrong_past_256_is_caught_by_stress_from_batch_257():
    outcome = _check(BatchIndexWrapsPast256, "stress-batch", at=STRESS)
    assert outcome.status == "failed", outcome.message
    assert {} in _caught(BatchIndexWrapsPast256, outcome)
    assert outcome.failures[0]["counterexample"]["case"]["batch"] == 257  # the first size


def test_a_batch_wrong_past_256_is_missed_by_the_default_profile():
    """block-boundaries draws the default profile's largest batches (every other check
    draws at most 5): below the defect's threshold."""
    for invariant_id in ("block-boundaries", "batch-independence"):
        outcome = _check(BatchIndexWrapsPast256, invariant_id)
        assert outcome.status == "passed", (invariant_id, outcome.message)


def test_a_recurrence_dropped_past_1024_units_is_caught_by_stress_at_1025():
    outcome = _check(RecurrencePast1024UnitsDropped, "stress-hidden-size", at=STRESS)
    assert outcome.status == "failed", outcome.message
    assert {} in _caught(RecurrencePast1024UnitsDropped, outcome)
    assert outcome.failures[0]["counterexample"]["case"]["hidden_size"] == 1025
    assert _check(RecurrencePast1024UnitsDropped, "block-boundaries").status == "passed"


@pytest.mark.slow
def test_a_cell_reset_past_65536_steps_is_caught_by_stress_and_nothing_shorter():
    """Minutes: every case is 65,537 steps of a Python loop per direction (--run-slow)."""
    outcome = _check(CellResetPast65536Steps, "stress-seq-len", at=STRESS)
    assert outcome.status == "failed", outcome.message
    assert {} in _caught(CellResetPast65536Steps, outcome)
    assert outcome.failures[0]["counterexample"]["case"]["seq_len"] == 65537
    assert _check(CellResetPast65536Steps, "block-boundaries").status == "passed"


@pytest.mark.slow
def test_the_reference_passes_past_65536_steps():
    outcome = _check(d.ReferenceLSTM, "stress-seq-len", at=STRESS)
    assert outcome.status == "passed", (outcome.message, outcome.counterexample)


def test_stress_defects_declare_what_catches_them():
    for defect in STRESS_DEFECTS + DEVICE_DEFECTS:
        (invariant_id,) = defect.catches
        assert invariant_id in defect.__doc__


# -- the options --------------------------------------------------------------------------------

def test_the_device_reaches_the_xdist_worker(conformance_run):
    """Under -n 1 the check runs in a worker: it applies there only if the worker knows the
    device (on the CPU it would be not applicable)."""
    run = conformance_run("--lstm-impl", "torch-lstm", "--lstm-device", "meta",
                          "--lstm-profile", "quick", "-n", "1", "-k", "device-placement")
    assert run.results is not None, run.output[-3000:]
    assert run.results["run"]["device"] == "meta"
    assert run.results["run"]["precision"]["float32_matmul_precision"]
    assert run.statuses("torch-lstm") == {"device-placement": "passed"}, run.output[-3000:]
    assert "device meta" in run.output


def test_a_device_torch_cannot_reach_is_a_usage_error(conformance_run):
    run = conformance_run("--lstm-impl", "torch-lstm", "--lstm-device", "no-such-device",
                          "-n", "0", timeout=120)
    assert run.returncode == 4, run.output[-3000:]  # pytest's usage error
    assert "--lstm-device no-such-device" in run.output


def test_parametrize_with_checks_takes_a_device_and_the_profile_s_checks():
    from lstm_conformance.checks import checks_for

    checks = checks_for(torch.nn.LSTM, profile="stress", device="meta")
    assert [c.invariant.id for c in checks] == [inv.id for inv in invariants_for("stress")]
    assert {c.subject.device for c in checks} == {torch.device("meta")}
    assert checks_for(torch.nn.LSTM)[0].subject.device == torch.device("cpu")


def test_a_backend_of_the_protocol_keeps_the_device_contract_on_meta():
    """Its adapter hands the backend CPU arrays as before; on a device it refuses tensors
    from another one as nn.LSTM does."""
    from lstm_conformance.implementations.numpy_reference import NumpyReferenceLSTM

    outcome = _check(NumpyReferenceLSTM, "device-mismatch-refused", "meta")
    assert outcome.status == "passed", (outcome.message, outcome.counterexample)
