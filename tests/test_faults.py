"""Faults real frameworks throw, one each (``faulty-lstms``, ``tests/plugins/faulty``), and
what the report must show for each: a fault costs the check it happened in, never the
implementation's other checks; a crash names the case that was running, and how the
process died; an implementation that cannot run at all is said so at once.
"""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from lstm_conformance.profiles import invariants_for, profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id

#: implementation -> (status, words its output-shapes message must hold)
MATRIX = {
    "faulty-raise": ("error", ["RuntimeError: faulty-raise: the fused kernel exploded",
                               "cannot run its simplest case"]),
    "faulty-hang": ("error", ["timed out after 20 s", "lstm_conformance_timeout",
                              "--timeout", "while running float32"]),
    # it declares 4 s, but a --timeout given on the command line wins
    "faulty-hang-declared": ("error", ["timed out after 20 s"]),
    "faulty-segfault": ("error", ["killed by signal SIGSEGV",
                                  "Fatal Python error: Segmentation fault"]),
    # the same crash, declared a known failure of this check: it is that known failure
    "faulty-segfault-declared": ("known_failure", ["killed by signal SIGSEGV"]),
    "faulty-abort": ("error", ["killed by signal SIGABRT", "Fatal Python error: Aborted"]),
    "faulty-exit": ("error", ["exited with status 3", "without a fatal-signal report"]),
    "faulty-own-handler": ("error", ["killed by signal SIGSEGV",
                                     "without faulthandler's report", "own signal handler"]),
    "faulty-first-call": ("error", ["killed by signal SIGABRT"]),
    # 2 s per prepare: output-shapes's examples outlast the 20 s limit
    "faulty-slow": ("error", ["timed out after 20 s", "lstm_conformance_timeout"]),
}
#: Faults on every call, whose hung or crashed case is the check's first (simplest) one.
ON_EVERY_CALL = [n for n in MATRIX if n not in ("faulty-raise", "faulty-slow")]


@pytest.fixture(scope="module")
def matrix_run(conformance_run):
    impls = [arg for name in (*MATRIX, "faulty-hang-bidirectional")
             for arg in ("--lstm-impl", name)]
    # 20 s: a fresh worker's first check (hypothesis's first draws, torch's first calls)
    # took more than 6 s on a loaded two-core machine, before its first case
    return conformance_run(*impls, "--lstm-profile", "ci", "--timeout", "20", "-k",
                           "output-shapes or faulty-hang-bidirectional:state-continuation",
                           timeout=900)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_fault_is_reported_as_what_it_was(matrix_run, name):
    status, words = MATRIX[name]
    result = matrix_run.impl(name)["results"]["output-shapes"]
    assert result["status"] == status, result["message"]
    for word in words:
        assert word in result["message"], (word, result["message"])
    assert f"--lstm-impl {name}" in result["reproduce"]


@pytest.mark.parametrize("name", ON_EVERY_CALL)
def test_a_dead_or_hung_check_keeps_the_case_it_was_running(matrix_run, name):
    """The first call of a check is its simplest case: that is the case a fault on every
    call (or on the first call of a process) must name."""
    result = matrix_run.impl(name)["results"]["output-shapes"]
    case = result["counterexample"]["case"]
    assert case["num_layers"] == 1 and case["bidirectional"] is False, case
    assert result["failures"][0]["counterexample"]["case"] == case


def test_a_timeout_costs_one_check_and_the_others_run(matrix_run):
    """``faulty-hang-bidirectional`` hangs on bidirectional calls only: output-shapes (which
    draws them) times out, state-continuation (which never does) runs after it and passes."""
    results = matrix_run.impl("faulty-hang-bidirectional")["results"]
    assert results["output-shapes"]["status"] == "error"
    assert "timed out after 20 s" in results["output-shapes"]["message"]
    assert results["output-shapes"]["counterexample"]["case"]["bidirectional"] is True
    assert results["state-continuation"]["status"] == "passed", \
        results["state-continuation"]["message"]
    assert results["state-continuation"]["examples"] > 1
    assert "timed out earlier" not in matrix_run.output


def test_a_slow_implementation_gets_every_check_reported(conformance_run):
    """``faulty-slow`` sleeps in every prepare: each selected check is reported (passed,
    not applicable, or timed out with its own case and the advice), none "not run"."""
    checks = ("output-shapes", "state-continuation", "zero-weights", "dropout-eval")
    run = conformance_run("--lstm-impl", "faulty-slow", "--lstm-profile", "quick",
                          "--timeout", "20", "-k", " or ".join(checks),
                          env={"FAULTY_SLOW_PREPARE_S": "0.5"}, timeout=400)
    results = run.impl("faulty-slow")["results"]
    assert sorted(results) == sorted(checks)
    for invariant, result in results.items():
        message = result["message"] or ""
        assert "not run" not in message and "timed out earlier" not in message, invariant
        if result["status"] == "error":
            assert "timed out after 20 s" in message, (invariant, message)
            assert result["counterexample"]["case"] is not None
        else:
            assert result["status"] in ("passed", "not_applicable"), (invariant, message)
    assert any(r["status"] == "passed" for r in results.values())


def test_a_declared_time_limit_is_the_checks_limit(conformance_run):
    run = conformance_run("--lstm-impl", "faulty-hang-declared", "--lstm-profile", "quick",
                          "-k", "output-shapes", timeout=120)
    result = run.impl("faulty-hang-declared")["results"]["output-shapes"]
    assert result["status"] == "error"
    assert "timed out after 4 s" in result["message"], result["message"]


def test_an_implementation_that_cannot_run_is_said_so_at_once(conformance_run):
    """Every check of ``faulty-raise`` runs its simplest case once, at the default profile,
    and says why the rest was not run; the whole catalogue takes seconds."""
    run = conformance_run("--lstm-impl", "faulty-raise", "--lstm-profile", "default",
                          timeout=300)
    results = run.impl("faulty-raise")["results"]
    assert len(results) == len(invariants_for("default"))
    for invariant, result in results.items():
        assert result["examples"] <= 1, (invariant, result)
        if result["status"] != "not_applicable":
            assert "cannot run its simplest case" in result["message"], (invariant, result)
    assert sum(r["duration_s"] for r in results.values()) < 60


#: Implementations that crash on every bias=False call, and the exit status of that crash.
CRASH_ON_ONE_FEATURE = {"faulty-abort-no-bias": -6, "faulty-segfault-no-bias": -11}
#: The lifecycle's crash is inside its state machine: its script replays the program.
CRASH_CHECKS = ("matches-oracle", "causality", "batch-permutation", "lifecycle")


@pytest.fixture(scope="module")
def crash_run(conformance_run):
    impls = [arg for name in CRASH_ON_ONE_FEATURE for arg in ("--lstm-impl", name)]
    return conformance_run(*impls, "--lstm-profile", "ci", "-k", " or ".join(CRASH_CHECKS),
                           timeout=900)


@pytest.mark.parametrize("name", sorted(CRASH_ON_ONE_FEATURE))
def test_every_crash_script_reproduces_its_crash(crash_run, site_command, name):
    """Each crash's standalone script rebuilds the crashing case, the extra draw of
    causality and batch-permutation included, and dies of the same signal."""
    results = crash_run.impl(name)["results"]
    signal_name = {-6: "SIGABRT", -11: "SIGSEGV"}[CRASH_ON_ONE_FEATURE[name]]
    scripts = []
    for invariant in CRASH_CHECKS:
        result = results[invariant]
        assert result["status"] == "error", (invariant, result["message"])
        assert f"killed by signal {signal_name}" in result["message"]
        assert result["counterexample"]["case"]["bias"] is False
        if by_id(invariant).extra is not None:
            assert result["counterexample"]["extra"] is not None, invariant
        if by_id(invariant).machine is not None:
            program = result["counterexample"]["program"]
            assert program[0][0] == "build" and program[0][1]["config"]["bias"] is False
        scripts.append(crash_run.workdir / "report" / result["failures"][0]["script"])
    for script in scripts:
        code, output = site_command(sys.executable, str(script))
        assert code == CRASH_ON_ONE_FEATURE[name], (script.name, code, output[-2000:])
        assert "TypeError" not in output


@pytest.mark.parametrize("name", sorted(CRASH_ON_ONE_FEATURE))
def test_a_crash_gets_its_condition_from_probes_in_fresh_processes(crash_run, name):
    """The crash's condition is found by the runner's search, each probe in a process of
    its own (the probes that keep bias=False crash too): every check names bias=False,
    and the root cause says so."""
    entry = crash_run.impl(name)
    for invariant in CRASH_CHECKS:
        crash = entry["results"][invariant]["failures"][0]
        assert crash["kind"] == "error:crash"
        assert crash["condition"] == {"features": ["no_bias"], "text": "when bias=False"}, \
            (invariant, crash["condition"])
    [cause] = entry["root_causes"]
    assert cause["condition"] == "when bias=False"
    assert set(cause["checks"]) == set(CRASH_CHECKS)


class _Recording(nn.LSTM):
    """nn.LSTM, wrong (c_n shifted) when bidirectional; notes each call's configuration."""

    log: list = []

    def forward(self, input, hx=None):
        self.log.append(("call", (self.hidden_size, self.num_layers, self.bidirectional,
                                  self.bias, self.proj_size)))
        output, (h_n, c_n) = super().forward(input, hx)
        return output, (h_n, c_n + 1e-2 if self.bidirectional else c_n)


def test_every_case_is_noted_before_it_runs_condition_search_included():
    """The crash watch hears every case before the implementation is called on it: those of
    the search for the failure's condition and of the core re-check too."""
    log = _Recording.log
    log.clear()
    found = []

    def noted(case: dict, extra) -> None:
        log.append(("case", (case["hidden_size"], case["num_layers"], case["bidirectional"],
                             case["bias"], case["proj_size"])))

    outcome = run_check(Subject("recording", _Recording), by_id("matches-oracle"),
                        profile_settings("ci"), None, on_case=noted, on_found=found.append)
    assert outcome.status == "failed"
    assert outcome.failures[0]["condition"]["features"] == ["bidirectional"]
    assert [f["kind"] for f in found] == [outcome.failures[0]["kind"]]
    last = None
    for what, config in log:
        if what == "case":
            last = config
        else:
            assert config == last, (config, last)
    # cases without bidirectional after the failure: the condition search was noted too
    first_bad = next(i for i, (w, c) in enumerate(log) if w == "case" and c[2])
    assert any(w == "case" and not c[2] for w, c in log[first_bad:])


def test_crash_message_tells_a_signal_from_an_exit():
    from lstm_conformance.crashwatch import LastWords
    from lstm_conformance.session import how_it_died

    assert how_it_died(LastWords(fatal="Fatal Python error: Aborted"), -6) == \
        "was killed by signal SIGABRT (Fatal Python error: Aborted)"
    assert "exited with status 3" in how_it_died(LastWords(), 3)
    replaced = how_it_died(LastWords(replaced=["SIGSEGV"]), 1)
    assert "replaced the handler of SIGSEGV" in replaced
    assert "may have been turned into this exit" in replaced


def test_a_script_is_not_written_without_the_checks_extra_draw():
    from lstm_conformance.scripts import script_for

    case = {"input_size": 1, "hidden_size": 1, "num_layers": 1, "bias": True,
            "batch_first": False, "dropout": 0.0, "bidirectional": False, "proj_size": 0,
            "dtype": "float32", "form": "batched", "seq_len": 2, "batch": 1,
            "weight_seed": 0, "weight_scale": "unit", "input_scale": "unit"}
    failure = {"message": "crashed", "counterexample": {"case": case}}
    assert script_for("x", "causality", failure, "s.py") is None
    with_extra = {"message": "crashed", "counterexample": {"case": case, "extra": 1}}
    source = script_for("x", "causality", with_extra, "s.py")
    assert "by_id('causality').check(implementation, case, 1)" in source
    compile(source, "s.py", "exec")


def test_a_condition_search_that_cannot_run_blames_no_feature(monkeypatch):
    """A fault only in the condition search: every attempt of it is refused (hypothesis
    could not run the check on the narrowed implementation). The failure found first
    stays, with no feature named in its condition (a refused probe proves nothing), and
    the check does not claim that the rest passes."""
    import lstm_conformance.runner as runner
    from lstm_conformance.attempt import COULD_NOT_RUN, Attempt, Found
    from lstm_conformance.outcome import Failure
    from lstm_conformance.spec.vocabulary import Status

    real = runner.run_attempt

    def refused_when_narrowed(subject, *args, **kwargs):
        if not subject.excluded:
            return real(subject, *args, **kwargs)
        return Attempt(Status.ERROR, found=[Found(Failure(
            Status.ERROR, "the check could not run: RuntimeError: injected", None,
            kind=COULD_NOT_RUN))])

    monkeypatch.setattr(runner, "run_attempt", refused_when_narrowed)
    outcome = run_check(Subject("recording", _Recording), by_id("matches-oracle"),
                        profile_settings("quick"), 0)
    assert outcome.status == "failed"
    failure = outcome.failures[0]
    assert failure["kind"] != COULD_NOT_RUN
    assert failure["condition"]["features"] == [], failure
    assert outcome.rest_status is None and outcome.search_ended == "no-condition"


def test_the_lifecycle_machine_notes_its_program_before_each_operation():
    """A crash inside the state machine needs the operations that led there: the crash
    watch hears the program so far before each operation touches the implementation, each
    run of the machine starting with its build."""
    heard = []
    outcome = run_check(Subject("nn.LSTM", nn.LSTM), by_id("lifecycle"),
                        profile_settings("quick"), 0,
                        on_case=lambda case, extra: heard.append(case))
    assert outcome.status == "passed", outcome.message
    assert heard and all(case["program"][0][0] == "build" for case in heard)
    builds = [case for case in heard if len(case["program"]) == 1]
    assert len(builds) >= outcome.examples
    for before, after in zip(heard, heard[1:], strict=False):
        if len(after["program"]) > 1:  # the same run: its program grew by what ran since
            assert after["program"][:len(before["program"])] == before["program"]
    for case in heard:  # the module's configuration, for the crash message
        assert case["hidden_size"] == case["program"][0][1]["config"]["hidden_size"]


def test_a_programs_features_are_what_its_module_and_calls_used():
    from lstm_conformance.spec.stateful import program_features

    config = {"input_size": 2, "hidden_size": 3, "num_layers": 2, "bias": False,
              "batch_first": False, "dropout": 0.5, "bidirectional": False, "proj_size": 0}
    program = [["build", {"config": config, "dtype": "float32", "seed": 1, "training": True}],
               ["call", {"seq_len": 3, "batch": 2, "form": "packed", "with_state": True,
                         "backward": False, "seed": 2, "inference": False}],
               ["to_dtype", {"dtype": "float64"}]]
    # the call has no backward(): it runs under no_grad (inference_mode when drawn)
    assert program_features(program) == {"float32", "float64", "multi_layer", "no_bias",
                                         "packed", "initial_state", "dropout", "no_grad"}
    program[1][1]["backward"] = True
    assert "no_grad" not in program_features(program)


class _RefusesSinglePrecision(nn.LSTM):
    """nn.LSTM that refuses float32 with NotImplementedError in forward, as an adapter for
    a runtime of fewer dtypes does, without declaring it."""

    def forward(self, input, hx=None):
        if self.weight_ih_l0.dtype == torch.float32:
            raise NotImplementedError("this runtime does not run float32")
        return super().forward(input, hx)


def test_a_refusal_where_a_check_calls_the_module_directly_is_not_a_crash():
    """``bad-input-raises`` calls the module itself (not through the harness): a
    NotImplementedError there refuses the case, as everywhere else; it is neither the
    check crashing nor the wrong exception type."""
    outcome = run_check(Subject("refuses-float32", _RefusesSinglePrecision),
                        by_id("bad-input-raises"), profile_settings("quick"), 0)
    assert outcome.status == "passed", outcome.message
    assert any("refused" in reason for reason in outcome.not_applicable_reasons), outcome
