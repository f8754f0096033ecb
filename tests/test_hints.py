"""Hints come from the seeded defects' declarations: each defect names its bug class
(``hint``) and the checks that catch it (``catches``); the rule that its catches trigger
must be that class. How often real runs get the right top hint is measured separately
(``python -m tests.measure_hints``, figures in docs/HINTS.md)."""

import pytest

from lstm_conformance.hints import RULES, hint, hint_rule
from lstm_conformance.spec.invariants import INVARIANTS
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


# -- likely causes from evidence -------------------------------------------------------------

def _oracle_failure(tensor: str, expected, actual, case: dict, *, dims=None, atol=1e-5,
                    check="oracle") -> dict:
    """A failed comparison as results.json records it."""
    import numpy as np

    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    flat = int(np.abs(a - e).argmax())
    return {"status": "failed", "kind": check, "message": f"{tensor} differs",
            "counterexample": {"check": check, "tensor": tensor, "case": case,
                               "expected": float(e.flat[flat]), "actual": float(a.flat[flat]),
                               "max_abs_diff": float(np.abs(a - e).max()),
                               "tolerance": {"atol": atol, "rtol": 1e-6}},
            "tensors": {"dims": dims or ["row", "batch", "feature"], "expected": e.tolist(),
                        "actual": a.tolist()}}


BIDI = {"input_size": 2, "hidden_size": 2, "num_layers": 1, "bias": True,
        "batch_first": False, "dropout": 0.0, "bidirectional": True, "proj_size": 0,
        "dtype": "float32", "form": "batched", "seq_len": 3, "batch": 1}


def test_output_right_and_backward_h_n_wrong_is_the_h_n_step_never_the_output():
    """The names alone (first-step-backward and time-reversal fail) give the generic
    backward text, which blames the output; the evidence that the output matched the oracle
    and only the backward row of h_n differs must give the h_n text instead."""
    from lstm_conformance.hints import BACKWARD_TEXT, evidence_of, likely_cause

    h_n = [[[0.1, 0.2]], [[0.3, 0.4]]]
    wrong = [[[0.1, 0.2]], [[0.5, 0.7]]]  # the backward row only
    failures = [("matches-oracle", _oracle_failure("h_n", h_n, wrong, BIDI)),
                ("first-step-backward", {"status": "failed", "kind": "first-step-backward",
                                         "message": "h_n[1] vs o[0]",
                                         "counterexample": {"check": "first-step-backward",
                                                            "case": BIDI}}),
                ("time-reversal", _oracle_failure("h_n", h_n[1], wrong[1], BIDI,
                                                  dims=["batch", "feature"],
                                                  check="time-reversal-state"))]
    assert hint_rule({"first-step-backward", "time-reversal"}, ALL).cause == BACKWARD_TEXT
    ev = evidence_of(failures, rebuild=False)
    assert ev.directions == {"backward"} and "output" in ev.agreed_with_reference
    likely = likely_cause(ev, ALL)
    assert likely["id"] == "backward-direction"
    assert likely["text"] != BACKWARD_TEXT and "output itself is right" in likely["text"]


def test_a_cause_the_evidence_contradicts_is_never_named():
    """Stacked layers with no multi-layer case failing, gate order with the output right:
    both are skipped, and the evidence is said in plain words."""
    from lstm_conformance.hints import evidence_of, likely_cause

    one_layer = {**BIDI, "bidirectional": False}
    stacked = [("stacked-layers", {"status": "failed", "kind": "stacked-layer-state",
                                   "message": "m", "counterexample": {"case": one_layer}})]
    assert hint_rule({"stacked-layers"}, ALL).id == "stacked-layers"
    assert likely_cause(evidence_of(stacked, rebuild=False), ALL) is None

    h_n = [[[0.1, 0.2]]]
    gate = [("gate-probe", _oracle_failure("c_n", h_n, [[[0.1, 0.9]]], one_layer,
                                           check="gate-probe"))]
    ev = evidence_of(gate, rebuild=False)
    assert {"output", "h_n"} <= ev.agreed_with_reference
    assert likely_cause(ev, ALL) is None or likely_cause(ev, ALL)["id"] != "gate-order"
    assert "c_n differs" in ev.summary() and "output and h_n agree" in ev.summary()


def test_float64_at_float32_accuracy_is_precision_however_far_past_its_tolerance():
    """The real case: float64 results off by 1e-7 are 1000x float64's tolerance (not a
    near miss) yet the accuracy of float32: precision, not gate order."""
    from lstm_conformance.hints import evidence_of, likely_cause

    f64 = {**BIDI, "bidirectional": False, "dtype": "float64"}
    out = [[[0.1, 0.2]], [[0.3, 0.4]], [[0.5, 0.6]]]
    off = [[[0.1 + 3e-7, 0.2]], [[0.3, 0.4 - 2e-7]], [[0.5, 0.6]]]
    failures = [("matches-oracle", _oracle_failure("output", out, off, f64, dims=["t", "batch",
                                                                                "feature"],
                                                   atol=1e-12)),
                ("gate-probe", _oracle_failure("output", out, off, f64, atol=1e-12,
                                               check="gate-probe"))]
    ev = evidence_of(failures, rebuild=False)
    assert not ev.near_miss and ev.low_accuracy == "float64"
    assert likely_cause(ev, ALL)["id"] == "precision"
    # the same differences in float32 are not "float64 at float32 accuracy"
    f32 = [(i, {**f, "counterexample": {**f["counterexample"],
                                         "case": {**f64, "dtype": "float32"}}})
           for i, f in failures]
    assert evidence_of(f32, rebuild=False).low_accuracy is None


def test_h_n_equal_to_the_last_steps_output_is_seen_on_the_rebuilt_case():
    """The evidence rebuilds the counterexample's case from its seed and finds that the
    wrong backward row of h_n is the oracle's output at T-1."""
    from lstm_conformance.hints import _rebuild, _state_equals_output
    from lstm_conformance.spec.invariants.common import oracle

    case = {**BIDI, "lengths": None, "initial_state": False, "training": False,
            "weight_seed": 7, "weight_scale": "normal", "input_scale": "unit"}
    out, h_n, _ = oracle(_rebuild(case))
    slip = h_n.clone()
    slip[1] = out[-1, :, 2:]
    found = _state_equals_output(_oracle_failure("h_n", h_n.tolist(), slip.tolist(), case))
    assert found == ["h_n[1] (backward) equals output[T-1]'s backward half"]
    assert _state_equals_output(_oracle_failure("h_n", h_n.tolist(), (h_n + 0.5).tolist(),
                                                case)) == []


def test_errors_under_a_feature_name_the_feature_and_the_declaration():
    """Where an error happened (which checks) says nothing of its cause: errors that need a
    feature name the feature, before any rule keyed on check names."""
    from lstm_conformance.hints import evidence_of, likely_cause

    def error(feature: str) -> dict:
        return {"status": "error", "kind": "error:raised:NotImplementedError",
                "message": "not implemented", "condition": {"features": [feature]},
                "counterexample": {"case": {**BIDI, "bidirectional": False}}}

    errors = [(i, error("bidirectional")) for i in ("batch-first", "stacked-layers")]
    likely = likely_cause(evidence_of(errors, rebuild=False), ALL)
    assert likely["id"] == "unsupported-feature"
    assert 'frozenset({"bidirectional"})' in likely["text"]
    # without a condition (it raises on every kind of case) nothing says which feature
    anywhere = [(i, {**f, "condition": {"features": []}}) for i, f in errors]
    assert (likely_cause(evidence_of(anywhere, rebuild=False), ALL) or {}).get("id") \
        != "unsupported-feature"
    # a wrong result beside the errors is not a missing feature
    wrong = _oracle_failure("output", [[[0.1]]], [[[0.3]]], BIDI)
    mixed = errors + [("matches-oracle", {**wrong, "condition": {"features": ["bidirectional"]}})]
    assert (likely_cause(evidence_of(mixed, rebuild=False), ALL) or {}).get("id") \
        != "unsupported-feature"


def _error(kind: str, message: str, features: list[str]) -> dict:
    return {"status": "error", "kind": kind, "message": message,
            "condition": {"features": features},
            "counterexample": {"case": {**BIDI, "bidirectional": False}}}


def test_one_error_in_many_checks_on_every_case_is_a_kind_of_call_not_a_check():
    """torch.compile's TypeError on every float32 call whose input needs no grad: the same
    error in many checks on every kind of case tried was named after one of those checks
    (dropout-eval). No feature of a case separates it: it is a kind of call."""
    from lstm_conformance.hints import evidence_of, likely_cause

    typeerror = _error("error:raised:TypeError", "torch-compile(input) raised TypeError: "
                       "expected Tensor() for op: mkldnn_rnn_layer", [])
    checks = ("output-shapes", "dropout-eval", "stacked-layers")
    likely = likely_cause(evidence_of([(i, typeerror) for i in checks], rebuild=False), ALL)
    assert likely["id"] == "unsupported-feature"
    assert "3 checks" in likely["text"] and "mkldnn_rnn_layer" in likely["text"]
    # in two checks it is those checks' own business
    two = likely_cause(evidence_of([(i, typeerror) for i in checks[:2]], rebuild=False), ALL)
    assert (two or {}).get("id") != "unsupported-feature"


def test_an_error_only_on_the_empty_batch_is_the_empty_batch_whatever_its_condition():
    """Every case of empty-batch has a batch of 0, which the condition search cannot leave
    out: a crash there "when float32" is the empty batch, not a float32 gap."""
    from lstm_conformance.hints import evidence_of, likely_cause

    crash = _error("error:crash", "the process crashed (SIGFPE)", ["float32"])
    likely = likely_cause(evidence_of([("empty-batch", crash)], rebuild=False), ALL)
    assert likely["id"] == "empty-batch"
    # the same crash in another check as well is a float32 gap again
    both = [("empty-batch", crash), ("matches-oracle", crash)]
    assert likely_cause(evidence_of(both, rebuild=False), ALL)["id"] == "unsupported-feature"


def test_a_wrong_exception_type_for_malformed_input_is_input_validation():
    """A wrapper's exception where nn.LSTM raises ValueError (dynamo's Unsupported, the ONNX
    exporter's TorchExportError) is an error of bad-input-raises with no check key."""
    from lstm_conformance.hints import evidence_of, likely_cause

    wrapped = _error("error:raised:torch._dynamo.exc.Unsupported", "1-D input: raised "
                     "torch._dynamo.exc.Unsupported: Observed exception; nn.LSTM raises "
                     "ValueError", [])
    likely = likely_cause(evidence_of([("bad-input-raises", wrapped)], rebuild=False), ALL)
    assert likely["id"] == "input-validation"


def test_wrong_from_the_first_step_only_with_an_initial_state_is_the_initial_state():
    from lstm_conformance.hints import evidence_of, likely_cause

    case = {**BIDI, "bidirectional": False, "initial_state": True}
    out, off = [[[0.1, 0.2]], [[0.3, 0.4]]], [[[0.15, 0.2]], [[0.32, 0.4]]]
    failure = _oracle_failure("output", out, off, case, dims=["t", "batch", "feature"])
    for condition, expected in ((["initial_state"], "initial-state"),
                                (["batch_first", "initial_state"], None)):
        ev = evidence_of([("matches-oracle", {**failure, "condition": {"features": condition}})],
                         rebuild=False)
        assert ((likely_cause(ev, ALL) or {}).get("id") == "initial-state") \
            == (expected == "initial-state"), condition


def test_a_state_misread_is_named_though_checks_beside_it_fail_and_continue_from_a_state():
    """A swapped (h0, c0) at run seed 5: state-continuation's failure came first (wrong
    from step 1, where its second call starts from a state of its own), beside
    batch-first's and a lifecycle call's; the initial state was not named. The first wrong
    step of every failure counts, and the name rules of the checks beside it do not
    outrank it."""
    from lstm_conformance.hints import evidence_of, likely_cause

    case = {**BIDI, "bidirectional": False, "initial_state": True}
    on = {"condition": {"features": ["initial_state"]}}
    later = _oracle_failure("output", [[[0.1]], [[0.3]]], [[[0.1]], [[0.5]]], case,
                            dims=["t", "batch", "feature"], check="state-continuation")
    first = _oracle_failure("output", [[[0.1]], [[0.3]]], [[[0.2]], [[0.5]]], case,
                            dims=["t", "batch", "feature"], check="lifecycle-call")
    beside = _oracle_failure("output", [[[0.1]], [[0.3]]], [[[0.1]], [[0.6]]], case,
                             dims=["t", "batch", "feature"], check="batch-first")
    members = [("state-continuation", {**later, **on}), ("batch-first", {**beside, **on}),
               ("lifecycle", {**first, **on})]
    assert likely_cause(evidence_of(members, rebuild=False), ALL)["id"] == "initial-state"
    # without a failure wrong from step 0 it is not the initial state
    assert (likely_cause(evidence_of(members[:2], rebuild=False), ALL) or {}).get("id") \
        != "initial-state"
