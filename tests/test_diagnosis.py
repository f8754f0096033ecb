"""Diagnosis: every distinct failure with its condition, root causes across checks, a case
you can step through, and pictures."""

from __future__ import annotations

import subprocess
import sys

import torch
from hypothesis import settings

from lstm_conformance.pictures import heat_maps, permutation
from lstm_conformance.profiles import profile_settings
from lstm_conformance.results import Collector
from lstm_conformance.runner import run_check
from lstm_conformance.scripts import script_for
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id
from tests.defects.combined import DeepBidirectionalAndFloat64, LoudProjectionQuietPacked

SETTINGS = settings(profile_settings("default"), database=None)


def _check(defect: type, invariant_id: str, seed: int = 0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return run_check(Subject(defect.__name__, defect), by_id(invariant_id), SETTINGS, seed)


def test_a_loud_and_a_quiet_bug_are_both_reported():
    """The loud bug (an error on every projection case) is one root cause across checks,
    with its condition; the quiet one (packed h_n at the padded end) still shows as a
    failure of the packed check, with its own counterexample (hypothesis reports both, or
    the search with the loud one's condition left out finds it)."""
    packed = _check(LoudProjectionQuietPacked, "packed-per-sequence")
    assert [f["condition"]["features"] for f in packed.failures][0] == ["proj_size"]
    loud, quiet = packed.failures[0], packed.failures[1]
    assert loud["status"] == "error" and "projections are not supported" in loud["message"]
    assert quiet["status"] == "failed" and quiet["kind"] == "packed-per-sequence"
    assert quiet["excluded"] in ([], ["proj_size"])
    assert quiet["counterexample"]["case"]["proj_size"] == 0

    collector = Collector("default", 0, {"impl": None, "keyword": None}, [])
    collector.implementation("converter")
    collector.record("converter", "packed-per-sequence", packed.as_dict())
    for invariant_id in ("matches-oracle", "output-shapes"):
        collector.record("converter", invariant_id,
                         _check(LoudProjectionQuietPacked, invariant_id).as_dict())
    entry = collector.document()["implementations"]["converter"]
    loud_cause = entry["root_causes"][0]
    assert loud_cause["kind"].startswith("error:raised:RuntimeError")
    assert "when proj_size > 0" in loud_cause["headline"]
    assert set(loud_cause["checks"]) == {"matches-oracle", "output-shapes",
                                         "packed-per-sequence"}
    # the quiet one is a root cause of its own (with any other check the same bug fails)
    quiet_cause = next(c for c in entry["root_causes"][1:] if "packed-per-sequence" in c["checks"])
    assert quiet_cause["status"] == "failed"


def test_two_conditions_are_named_and_the_rest_passes():
    """The second bug is found by a fresh search with the first one's condition left out:
    at the default profile that search may miss it (seed 0 did, in one of six seeds tried),
    so three of four seeds must find both."""
    found_both = 0
    for seed in range(4):
        outcome = _check(DeepBidirectionalAndFloat64, "matches-oracle", seed)
        conditions = {tuple(f["condition"]["features"]) for f in outcome.failures}
        assert ("float64",) in conditions, outcome.failures  # the loud one: always
        assert outcome.rest_status == "passed"
        found_both += ("bidirectional", "multi_layer") in conditions
    assert found_both >= 3


def test_the_standalone_script_runs_and_prints_the_difference(tmp_path):
    outcome = _check(DeepBidirectionalAndFloat64, "matches-oracle", 1)
    failure = next(f for f in outcome.failures if f["status"] == "failed")
    source = script_for("deep-bidi", "matches-oracle", failure, "x.py")
    # The script loads through the entry point; here the defect is put in its place.
    source = source.replace('load(registered()[\'deep-bidi\'])[0]',
                            'Subject("deep-bidi", DeepBidirectionalAndFloat64)')
    source = source.replace("import torch\n", "import torch\nfrom tests.defects.combined import "
                            "DeepBidirectionalAndFloat64\n", 1)
    path = tmp_path / "repro.py"
    path.write_text(source)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=str(__import__("pathlib").Path(__file__).parents[1]),
                          env={**__import__("os").environ, "PYTHONPATH": "."})
    assert "max |diff|:" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Violation" in proc.stderr  # the check raises its failure


def test_pictures_and_permutations_of_a_failure():
    expected = [[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.6], [0.7, 0.8]]]
    actual = [[[0.5, 0.6], [0.7, 0.8]], [[0.1, 0.2], [0.3, 0.4]]]  # rows swapped
    failure = {"tensors": {"dims": ["row", "batch", "feature"], "expected": expected,
                           "actual": actual}, "counterexample": {"index": [0, 1, 0]}}
    assert heat_maps(failure).startswith("data:image/png;base64,")
    words = permutation(failure)
    assert "actual row 0 equals expected row 1" in words
    assert "actual row 1 equals expected row 0" in words
    assert permutation({"tensors": {"dims": ["t"], "expected": [1.0, 2.0],
                                    "actual": [1.0, 2.5]}}) is None


class UsersBidirectionalSlip(torch.nn.LSTM):
    """A user's own LSTM with the slip of issue 20: the backward direction's h_n is read
    from the output's last time step, like the forward one's (the output is exact)."""

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        if self.bidirectional and isinstance(output, torch.Tensor):
            seq_first = output.unsqueeze(1) if output.dim() == 2 else (
                output.transpose(0, 1) if self.batch_first else output)
            h_n = h_n.clone()
            top = 2 * (self.num_layers - 1)
            last = seq_first[-1, :, self.proj_size or self.hidden_size:]
            h_n[top + 1] = last if h_n.dim() == 3 else last[0]
        return output, (h_n, c_n)


def test_a_users_slip_reads_as_one_root_cause_that_names_it():
    from lstm_conformance.hints import BACKWARD_TEXT

    collector = Collector("quick", 0, {"impl": None, "keyword": None}, [])
    collector.implementation("mine")
    quick = settings(profile_settings("quick"), database=None)
    for invariant_id in ("first-step-backward", "time-reversal", "cell-state-consistency",
                         "zero-weights", "gate-probe", "output-shapes"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            outcome = run_check(Subject("mine", UsersBidirectionalSlip), by_id(invariant_id),
                                quick, 0)
        collector.record("mine", invariant_id, outcome.as_dict())
    entry = collector.document()["implementations"]["mine"]
    assert entry["verdict"] == "non-conformant"
    assert len(entry["root_causes"]) == 1, [c["headline"] for c in entry["root_causes"]]
    cause = entry["root_causes"][0]
    assert len(cause["checks"]) >= 3 and "bidirectional=True" in cause["headline"]
    assert cause["likely_cause"]["id"] == "backward-direction"
    assert "time step 0" in cause["likely_cause"]["text"]
    assert cause["likely_cause"]["text"] != BACKWARD_TEXT  # the output is not blamed
    assert cause["evidence"]["wrong"] == ["h_n"]
    assert "output" in cause["evidence"]["agreed_with_reference"]
    assert cause["evidence"]["directions"] == ["backward"]


class UsersStateSwap(torch.nn.LSTM):
    """A user's own LSTM with a slip nobody seeded: hx unpacked as (c0, h0). Wrong values
    whenever a state is passed; with projections, where h0 and c0 differ in size, nn.LSTM's
    own shape check raises instead; and a check that passes a state of its own
    (packed-per-sequence, state-continuation) meets it on cases drawn without one."""

    def forward(self, input, hx=None):
        if hx is not None:
            c0, h0 = hx  # the slip: nn.LSTM's hx is (h0, c0)
            hx = (h0, c0)
        return super().forward(input, hx)


def test_a_state_swap_reads_as_one_root_cause_that_names_the_swap():
    collector = Collector("quick", 0, {"impl": None, "keyword": None}, [])
    collector.implementation("mine")
    quick = settings(profile_settings("quick"), database=None)
    learned: dict = {}  # as a session shares them between checks
    for invariant_id in ("matches-oracle", "output-shapes", "packed-per-sequence",
                         "state-continuation", "empty-batch"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            outcome = run_check(Subject("mine", UsersStateSwap), by_id(invariant_id), quick, 0,
                                conditions=learned)
        collector.record("mine", invariant_id, outcome.as_dict())
    entry = collector.document()["implementations"]["mine"]
    packed = entry["results"]["packed-per-sequence"]["failures"]
    # drawn without hx, failing on the state the check passes of its own: the condition
    # says so (a replay of the case without that state passes)
    assert all("initial_state" in f["condition"]["features"] for f in packed), packed
    assert len(entry["root_causes"]) == 1, [c["headline"] for c in entry["root_causes"]]
    cause = entry["root_causes"][0]
    assert cause["checks"] == ["output-shapes", "matches-oracle", "state-continuation",
                               "packed-per-sequence", "empty-batch"]
    assert cause["condition"] == "when an explicit (h0, c0)"
    assert cause["likely_cause"]["id"] == "initial-state"
    assert "h0 and c0 are most likely swapped" in cause["likely_cause"]["text"]
    assert "RuntimeError" in cause["likely_cause"]["text"]


def _quick_entry(implementation: type, invariant_ids: tuple[str, ...]) -> dict:
    """The results entry of a quick run (seed 0) of these checks, as a session makes it."""
    collector = Collector("quick", 0, {"impl": None, "keyword": None}, [])
    collector.implementation("mine")
    quick = settings(profile_settings("quick"), database=None)
    learned: dict = {}  # as a session shares them between checks
    for invariant_id in invariant_ids:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            outcome = run_check(Subject("mine", implementation), by_id(invariant_id), quick,
                                0, conditions=learned)
        collector.record("mine", invariant_id, outcome.as_dict())
    return collector.document()["implementations"]["mine"]


class UsersReturnedStatesSwapped(torch.nn.LSTM):
    """A user's slip: the final states returned as (c_n, h_n). Wrong h_n and c_n values
    everywhere; with projections, where they differ in size, wrong shapes; and beside them
    checks that compare h_n with the output (in training, where no oracle follows the
    dropout masks)."""

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        return output, (c_n, h_n)


def test_returned_states_swapped_read_as_one_root_cause_that_names_the_swap():
    entry = _quick_entry(UsersReturnedStatesSwapped,
                         ("matches-oracle", "output-shapes", "batch-independence",
                          "dropout-train-structure"))
    assert len(entry["root_causes"]) == 1, [c["headline"] for c in entry["root_causes"]]
    cause = entry["root_causes"][0]
    assert cause["checks"] == ["output-shapes", "matches-oracle", "batch-independence",
                               "dropout-train-structure"]
    assert cause["likely_cause"]["id"] == "state-carry"
    assert "returned swapped" in cause["likely_cause"]["text"]
    assert "h_n equals the oracle's c_n" in cause["evidence"]["equals"]


class UsersDefaultState(torch.nn.LSTM):
    """A user's slip: the default state built as a tutorial builds it, (num_layers, N, H),
    without the directions, and N read with input.size, which a PackedSequence lacks."""

    def forward(self, input, hx=None):
        if hx is None:
            n = input.size(0) if self.batch_first else input.size(1)
            h0 = torch.zeros(self.num_layers, n, self.proj_size or self.hidden_size,
                             dtype=input.dtype)
            c0 = torch.zeros(self.num_layers, n, self.hidden_size, dtype=input.dtype)
            hx = (h0, c0)
        return super().forward(input, hx)


def test_a_default_state_built_wrong_reads_as_one_root_cause_without_a_state():
    """Three errors (bidirectional: a state of the wrong size; packed: no .size; a 1-D
    input: an IndexError before nn.LSTM's validation) under one code path: each failing
    case passes with an explicit zero (h0, c0), and the 1-D input raises nn.LSTM's
    ValueError once the case's state is passed, which the conditions say; they are one
    cause that names the default state, not unimplemented features and input validation."""
    entry = _quick_entry(UsersDefaultState, ("output-shapes", "matches-oracle",
                                             "packed-per-sequence", "time-reversal",
                                             "bad-input-raises"))
    assert entry["results"]["bad-input-raises"]["status"] == "error"
    failures = [f for r in entry["results"].values() for f in r.get("failures") or []]
    assert failures and all("default_state" in f["condition"]["features"] for f in failures)
    assert len(entry["root_causes"]) == 1, [c["headline"] for c in entry["root_causes"]]
    cause = entry["root_causes"][0]
    assert cause["condition"] == "when no (h0, c0) is passed (hx=None)"
    assert cause["likely_cause"]["id"] == "hx-default"
    assert "explicit zero (h0, c0)" in cause["likely_cause"]["text"]


class UsersDropoutInEval(torch.nn.LSTM):
    """A user's slip: dropout between layers applied in eval mode too."""

    def forward(self, input, hx=None):
        was, self.training = self.training, True
        try:
            return super().forward(input, hx)
        finally:
            self.training = was


def test_dropout_in_eval_mode_reads_as_its_cause_not_as_state_leaking():
    """Random results in eval mode fail determinism and the oracle alike; each failing case
    passes with dropout=0, which is the condition and names the cause."""
    entry = _quick_entry(UsersDropoutInEval, ("matches-oracle", "determinism", "dropout-eval"))
    assert len(entry["root_causes"]) == 1, [c["headline"] for c in entry["root_causes"]]
    cause = entry["root_causes"][0]
    assert "dropout > 0 in eval mode" in cause["condition"]
    assert cause["likely_cause"]["id"] == "dropout-eval"


def test_failures_join_wrong_values_only_under_a_narrower_condition_of_theirs():
    """Errors whose condition holds the wrong values' condition and one more feature are
    the same defect, loud where it breaks shapes, and so are wrong values there; errors
    under a condition of their own (projections unsupported, packed lengths ignored) stay
    a second cause."""
    def error(condition):
        failure = {"status": "error", "kind": "error:raised:RuntimeError",
                   "message": "x(input, hx) raised RuntimeError: size mismatch",
                   "reproduce": None, "counterexample": {"case": {"dtype": "float32"}},
                   "condition": {"features": condition, "text": ""}}
        return {**failure, "examples": 1, "duration_s": 0.1, "failures": [failure]}

    joined = _entry({"matches-oracle": _failed("a", ["initial_state"]),
                     "output-shapes": error(["initial_state", "proj_size"]),
                     # wrong values of another tensor, with one more feature: the same
                     "bounds": _failed("b", ["bidirectional", "initial_state"], tensor="c_n",
                                       kind="bound-c", expected=1.63323, actual=-1.80615)})
    assert [sorted(c["checks"]) for c in joined["root_causes"]] == [
        ["bounds", "matches-oracle", "output-shapes"]]
    assert joined["root_causes"][0]["condition"] == "when an explicit (h0, c0)"
    apart = _entry({"matches-oracle": _failed("a", ["packed"]),
                    "output-shapes": error(["proj_size"])})
    assert len(apart["root_causes"]) == 2


def _entry(results: dict, **info) -> dict:
    collector = Collector("quick", 0, {"impl": None, "keyword": info.pop("keyword", None)}, [])
    collector.implementation("x", **info)
    for invariant_id, outcome in results.items():
        collector.record("x", invariant_id, outcome)
    return collector.document()["implementations"]["x"]


def _failed(message: str, condition: list[str] | None, *, expected=0.123456, actual=0.654321,
            tensor="output", kind="oracle", rest="passed", core="failed") -> dict:
    failure = {"status": "failed", "message": message, "kind": kind, "reproduce": None,
               "counterexample": {"check": kind, "tensor": tensor, "expected": expected,
                                  "actual": actual, "max_abs_diff": abs(expected - actual),
                                  "tolerance": {"atol": 1e-5, "rtol": 1e-6},
                                  "case": {"dtype": "float64"}},
               "condition": None if condition is None else {
                   "features": condition, "text": "when " + " and ".join(condition)}}
    return {"status": "failed", "message": message, "counterexample": failure["counterexample"],
            "reproduce": None, "examples": 5, "duration_s": 0.1, "failures": [failure],
            "rest_status": rest, "core_status": core}


def test_the_same_wrong_values_in_several_checks_are_one_root_cause():
    # no condition searched: only the values can join them
    entry = _entry({"matches-oracle": _failed("a", None),
                    "gate-probe": _failed("b", None, kind="gate-probe"),
                    "zero-weights": _failed("c", None, kind="zero-weights", expected=0.25,
                                            actual=0.5)})
    checks = sorted(c["checks"] for c in entry["root_causes"])
    # the same (expected, actual) pair joins; round numbers (0.25, 0.5) prove nothing
    assert checks == [["matches-oracle", "gate-probe"], ["zero-weights"]]
    # one condition under which they all fail wrong (here: every kind of case) joins all
    entry = _entry({"matches-oracle": _failed("a", []),
                    "zero-weights": _failed("c", [], kind="zero-weights", expected=0.25,
                                            actual=0.5),
                    "bounds": _failed("d", ["bidirectional"], kind="bound-h", expected=0.31416,
                                      actual=0.27183)})
    checks = sorted(c["checks"] for c in entry["root_causes"])
    assert checks == [["bounds"], ["matches-oracle", "zero-weights"]]


def test_no_check_ran_is_not_checked_with_its_reason():
    entry = _entry({}, keyword="no-such-check")
    assert entry["verdict"] == "not-checked" and entry["level"] is None
    assert "-k 'no-such-check' matched none" in entry["reason"]
    passed = {"status": "passed", "examples": 5, "duration_s": 0.1, "counterexample": None,
              "message": None, "reproduce": None}
    assert _entry({"matches-oracle": passed})["verdict"] == "conformant"
    assert _entry({"matches-oracle": passed})["reason"] is None


def test_a_failure_confined_to_float64_keeps_level_core():
    passed = {"status": "passed", "examples": 5, "duration_s": 0.1, "counterexample": None,
              "message": None, "reproduce": None}
    confined = _entry({"matches-oracle": _failed("f64", ["float64"]), "bounds": passed})
    assert (confined["verdict"], confined["level"]) == ("non-conformant", "core")
    # not when the rest of the check is unknown, or the condition is only basic features
    unknown = _entry({"matches-oracle": _failed("f64", ["float64"], rest=None)})
    basic = _entry({"matches-oracle": _failed("x", ["initial_state"])})
    assert unknown["level"] is None and basic["level"] is None


def test_cannot_run_is_said_of_several_checks_never_of_one():
    """A reproduce run of one check that fails everywhere says that check fails, not that
    the implementation cannot run its simplest case."""
    one = _entry({"matches-oracle": _failed("boom", [])})
    assert one["headline"] is None
    three = _entry({i: _failed("boom", [], kind="k") for i in
                    ("matches-oracle", "bounds", "zero-weights")})
    assert three["headline"].startswith("Cannot run its simplest case: all 3 checks that ran")


def test_the_script_of_a_failure_on_views_calls_with_the_views(tmp_path):
    """The script rebuilds the whole case, layout included (``spec.strategies.rebuild_case``):
    a failure that shows only on non-contiguous input still fails there."""
    from tests.defects.module import InputReadWithDenseStrides

    outcome = _check(InputReadWithDenseStrides, "strided-views")
    failure = next(f for f in outcome.failures if f["status"] == "failed")
    assert failure["counterexample"]["case"]["layout"] != "dense"
    source = script_for("dense-strides", "strided-views", failure, "x.py")
    source = source.replace('load(registered()[\'dense-strides\'])[0]',
                            'Subject("dense-strides", InputReadWithDenseStrides)')
    source = source.replace("import torch\n", "import torch\nfrom tests.defects.module import "
                            "InputReadWithDenseStrides\n", 1)
    path = tmp_path / "repro.py"
    path.write_text(source)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=str(__import__("pathlib").Path(__file__).parents[1]),
                          env={**__import__("os").environ, "PYTHONPATH": "."})
    # On the dense copy this defect is exact: a failure here means the view was rebuilt
    # (it reads NaN from the memory the view skips, or the check compares view and copy).
    assert proc.returncode != 0 and "Violation" in proc.stderr, proc.stdout + proc.stderr
    assert "non-finite" in proc.stderr or "strided-view" in proc.stderr, proc.stderr


def test_the_script_prints_the_values_of_the_call_the_check_failed_on(tmp_path):
    """zero-weights fails on the case it makes from the counterexample (its weights
    zeroed): the script prints that call beside nn.LSTM's, so the difference it prints is
    the failure's own, not that of the counterexample's weights."""
    from tests.defects.gates import TanhOutputGate

    outcome = _check(TanhOutputGate, "zero-weights")
    failure = next(f for f in outcome.failures if f["status"] == "failed")
    source = script_for("tanh-o", "zero-weights", failure, "x.py")
    source = source.replace('load(registered()[\'tanh-o\'])[0]',
                            'Subject("tanh-o", TanhOutputGate)')
    source = source.replace("import torch\n", "import torch\nfrom tests.defects.gates import "
                            "TanhOutputGate\n", 1)
    path = tmp_path / "repro.py"
    path.write_text(source)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=str(__import__("pathlib").Path(__file__).parents[1]),
                          env={**__import__("os").environ, "PYTHONPATH": "."})
    assert proc.returncode != 0 and "Violation" in proc.stderr, proc.stdout + proc.stderr
    assert "--- the call the check failed on:" in proc.stdout
    printed = [float(line.split(":")[1]) for line in proc.stdout.splitlines()
               if line.startswith("max |diff|:")]
    wanted = failure["counterexample"]["max_abs_diff"]
    assert any(abs(p - wanted) <= 1e-6 * max(1.0, wanted) for p in printed), (printed, wanted)


def test_the_lifecycle_failure_gets_a_script_that_replays_its_operations(tmp_path):
    """A state machine's failure has no single case: its script replays the recorded
    operations (``spec.stateful.play``), and the last one raises the failure."""
    from tests.defects.lifecycle import WeightsCachedAtFirstCall

    outcome = _check(WeightsCachedAtFirstCall, "lifecycle")
    failure = next(f for f in outcome.failures if f["status"] == "failed")
    program = failure["counterexample"]["program"]
    assert program[0][0] == "build" and program[-1][0] == "call", program
    source = script_for("cached", "lifecycle", failure, "x.py")
    assert source is not None
    source = source.replace("load(registered()['cached'])[0]",
                            'Subject("cached", WeightsCachedAtFirstCall)')
    source = source.replace("import torch\n", "import torch\nfrom spec.harness import Subject\n"
                            "from tests.defects.lifecycle import WeightsCachedAtFirstCall\n", 1)
    path = tmp_path / "repro.py"
    path.write_text(source)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=str(__import__("pathlib").Path(__file__).parents[1]),
                          env={**__import__("os").environ, "PYTHONPATH": "."})
    assert proc.returncode != 0 and "Violation" in proc.stderr, proc.stdout + proc.stderr
    assert failure["message"].split(": max |diff|")[0] in proc.stderr  # the same comparison


def test_no_default_state_beside_a_state_the_check_passes_of_its_own():
    """A check that passes a state of its own (packed-per-sequence) fails on it: replaying
    its case with a state changes that call too. Float64 computed at float32 accuracy and
    input clipped in place read "when no (h0, c0) is passed" beside "an explicit (h0, c0)"
    before that was ruled out."""
    from tests.defects.heldout import ClipsInputInPlace, Float64AtFloat32

    for defect, invariant_ids in ((Float64AtFloat32, ("matches-oracle", "packed-per-sequence",
                                                      "state-continuation", "gradients")),
                                  (ClipsInputInPlace, ("packed-per-sequence", "no-mutation"))):
        entry = _quick_entry(defect, invariant_ids)
        conditions = [f["condition"]["features"] for r in entry["results"].values()
                      for f in r.get("failures") or [] if f.get("condition")]
        assert conditions, defect.__name__
        assert not any("default_state" in c or "eval_dropout" in c for c in conditions), \
            (defect.__name__, conditions)
