"""A faulty implementation never takes the run down, and bad input is a clear usage error.

``faulty-lstms`` (``tests/plugins/faulty``) raises, hangs, aborts the process, returns NaN,
returns a list, and fails in its constructor. One run checks all of them beside torch-lstm:
it must finish on its own, write its report, judge torch-lstm conformant, and name each
fault. The run goes through ``pytest conformance`` in a subprocess, as a user runs it
(default isolation: one xdist worker, pytest-timeout's thread method).
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\.py:\d+: in \w+")
INVARIANTS = ("output-shapes", "last-step-forward", "matches-oracle")

#: Each fault: the status of every selected check, and what its messages must say.
FAULTS = {
    "faulty-raise": ("error", ["RuntimeError", "faulty-raise: the fused kernel exploded"]),
    "faulty-hang": ("error", ["timed out"]),
    "faulty-abort": ("error", ["crashed", "Aborted"]),
    "faulty-nan": ("failed", ["non-finite"]),
    "faulty-list": ("error", ["returned list"]),
}


@pytest.fixture(scope="module")
def faulty_run(conformance_run):
    impls = [arg for name in ("torch-lstm", *FAULTS, "faulty-ctor")
             for arg in ("--lstm-impl", name)]
    return conformance_run(*impls, "-k", " or ".join(INVARIANTS), "--timeout", "10",
                           "--lstm-profile", "quick", timeout=300)


def test_the_run_finishes_and_writes_its_report(faulty_run):
    assert faulty_run.results is not None, faulty_run.output[-3000:]
    report = faulty_run.workdir / "report"
    assert (report / "index.html").stat().st_size > 0
    assert (report / "junit.xml").is_file()
    assert faulty_run.returncode == 1, faulty_run.output[-3000:]  # tests failed; no crash


def test_the_reference_beside_them_is_conformant(faulty_run):
    assert faulty_run.impl("torch-lstm")["verdict"] == "conformant"
    assert faulty_run.statuses("torch-lstm") == dict.fromkeys(INVARIANTS, "passed")


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_is_named(faulty_run, name):
    status, words = FAULTS[name]
    entry = faulty_run.impl(name)
    assert entry["verdict"] == "non-conformant"
    assert entry["load_error"] is None
    assert faulty_run.statuses(name) == dict.fromkeys(INVARIANTS, status)
    for invariant, result in entry["results"].items():
        for word in words:
            assert word in result["message"], (invariant, result["message"])
        assert f"--lstm-impl {name}" in result["reproduce"]


def test_a_crash_keeps_the_case_that_was_running(conformance_run):
    """A worker that dies on bias=False leaves a result that says bias=False, with the case
    and a reproduce command, in results.json and in the HTML."""
    run = conformance_run("--lstm-impl", "faulty-abort-no-bias", "-k", "matches-oracle",
                          "--lstm-profile", "default", timeout=300)
    result = run.impl("faulty-abort-no-bias")["results"]["matches-oracle"]
    assert result["status"] == "error" and "crashed" in result["message"]
    case = result["counterexample"]["case"]
    assert case["bias"] is False, case
    assert "bias=False" in result["message"]
    assert result["failures"][0]["counterexample"]["case"] == case
    assert "--lstm-impl faulty-abort-no-bias" in result["reproduce"]
    html = (run.workdir / "report" / "index.html").read_text()
    assert "bias=False" in html and "faulty-abort-no-bias" in html


def test_a_hang_is_cut_at_the_timeout_and_costs_only_its_own_check(faulty_run):
    """Each hung check is cut at the limit, in its own worker, with the case it was running
    and the time it took; none is skipped because another timed out."""
    results = faulty_run.impl("faulty-hang")["results"]
    for invariant, result in results.items():
        message = result["message"]
        assert message.startswith("timed out after 10 s (pytest-timeout; it ran "), message
        assert "while running float32" in message, message
        assert result["counterexample"]["case"] is not None, invariant
        assert 10 <= result["duration_s"] < 60, result["duration_s"]


def test_a_constructor_failure_is_broken(faulty_run):
    assert "faulty-ctor" in faulty_run.results["implementations"], "faulty-ctor is missing"
    entry = faulty_run.impl("faulty-ctor")
    assert entry["verdict"] == "broken"
    assert "TypeError: cannot build" in entry["load_error"]


# -- bad input from the user ---------------------------------------------------------------

def test_an_unknown_profile_is_a_usage_error_naming_the_choices(conformance_run):
    run = conformance_run("--lstm-impl", "torch-lstm", "--lstm-profile", "nope", timeout=120)
    assert run.returncode == 4, run.output[-3000:]
    assert "nope" in run.output
    for choice in ("quick", "default", "thorough", "ci"):
        assert f"'{choice}'" in run.output
    assert not TRACEBACK.search(run.output), run.output[-3000:]


def test_an_unwritable_report_dir_is_named_without_a_traceback(conformance_run, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    report_dir = blocker / "reports"
    run = conformance_run("--lstm-impl", "torch-lstm", "--lstm-profile", "quick",
                          "-k", "output-shapes",
                          report_dir=report_dir, timeout=120)
    assert run.returncode != 0
    assert str(report_dir) in run.output, run.output[-3000:]
    assert not TRACEBACK.search(run.output), run.output[-3000:]


# -- reproducibility -------------------------------------------------------------------------

def _without_timings(value):
    """The results without what differs by design: timings; the reproduce commands, which
    name each run's own report directory; and which check heard a warning, since torch
    warns some things once per process (TORCH_WARN_ONCE), whichever check comes first."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if k not in ("duration_s", "reproduce", "warnings")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_ci_profile_gives_identical_results_run_after_run(conformance_run):
    args = ("--lstm-impl", "independent-packed-padded-end", "--lstm-profile", "ci",
            "-k", "packed-per-sequence or matches-oracle or gate-probe")
    first, second = conformance_run(*args), conformance_run(*args)
    entry = first.impl("independent-packed-padded-end")
    assert entry["verdict"] == "non-conformant"
    assert entry["results"]["packed-per-sequence"]["counterexample"] is not None
    a = _without_timings(first.results["implementations"])
    b = _without_timings(second.results["implementations"])
    differing = {inv: (ra, b["independent-packed-padded-end"]["results"][inv])
                 for inv, ra in a["independent-packed-padded-end"]["results"].items()
                 if ra != b["independent-packed-padded-end"]["results"][inv]}
    assert a == b, json.dumps(differing, indent=1)[:4000]


def test_parallel_workers_give_the_same_report(conformance_run):
    """``-n 2`` (what ``tox -- -n auto`` gives on two cores) changes only the timings."""
    args = ("--lstm-impl", "torch-lstm", "--lstm-impl", "independent-packed-padded-end",
            "--lstm-profile", "ci", "-k", "packed-per-sequence or last-step-forward or batch-first")
    one, two = conformance_run(*args), conformance_run(*args, "-n", "2")
    assert "2 workers" in two.output and "1 worker " in one.output  # really two workers
    assert one.impl("independent-packed-padded-end")["verdict"] == "non-conformant"
    assert _without_timings(one.results["implementations"]) == \
        _without_timings(two.results["implementations"])


def test_the_reproduce_command_of_a_failure_reproduces_it(conformance_run, site_command):
    """The printed command runs as printed, from where the run started, and writes a partial
    report in a directory of its own under the full one's ``reproduce/`` (the full report
    stays as it was; the reproduce run's own command names the same directory)."""
    name, invariant = "independent-packed-padded-end", "packed-per-sequence"
    first = conformance_run("--lstm-impl", name, "--lstm-profile", "default", "-k", invariant)
    result = first.impl(name)["results"][invariant]
    assert result["status"] == "failed"
    command = shlex.split(result["reproduce"])
    assert command[1:4] == ["-m", "lstm_conformance", "run"]
    assert f"--hypothesis-seed={first.results['run']['seed']}" in command
    full = (first.workdir / "report" / "results.json").read_text()
    code, output = site_command(*command)
    assert code == 1, output[-2000:]
    own = first.workdir / "report" / "reproduce" / f"{name}__{invariant}"
    assert command[command.index("--lstm-report-dir") + 1] == str(own)
    again = json.loads((own / "results.json").read_text())
    assert again["run"]["partial"] is True
    assert "partial run" in output
    reproduced = again["implementations"][name]["results"][invariant]
    for key in ("status", "counterexample"):
        assert reproduced[key] == result[key], key
    # the shrunk case's own message; the largest error seen depends on what a run explored
    shrunk = [r["failures"][0].get("minimal_message") or r["failures"][0]["message"]
              for r in (reproduced, result)]
    assert shrunk[0] == shrunk[1]
    assert reproduced["reproduce"] == result["reproduce"]  # not reproduce/.../reproduce
    assert (first.workdir / "report" / "results.json").read_text() == full


def test_a_failure_is_stored_in_the_example_database_and_replayed_first(conformance_run,
                                                                        tmp_path):
    """Hypothesis keeps each shrunk failure in its example database (here under
    HYPOTHESIS_STORAGE_DIRECTORY) and replays it first on the next run, whatever that run's
    seed. A run given --hypothesis-seed neither reads nor writes the database (hypothesis's
    rule), so neither run here passes one; each draws its own seed. ``faulty-narrow`` is
    wrong for every hidden_size >= 3 in the first run, and in the second only for the exact
    shape of the first run's counterexample, which a quick run's own few cases almost never
    hit: only a replay finds it again."""
    selection = ("--lstm-impl", "faulty-narrow", "-k", "faulty-narrow:matches-oracle")
    first = conformance_run(*selection, "--lstm-profile", "default", workdir=tmp_path / "one")
    found = first.impl("faulty-narrow")["results"]["matches-oracle"]
    assert found["status"] == "failed", found["message"]
    storage = tmp_path / "one" / "hypothesis"
    examples = storage / "examples"
    assert examples.is_dir() and any(examples.rglob("*")), (
        f"nothing saved under {storage}: {sorted(p.name for p in storage.glob('*'))}")

    case = found["counterexample"]["case"]
    shape = f"{case['hidden_size']},{case['input_size']},{case['seq_len']}"
    second = conformance_run(*selection, "--lstm-profile", "quick", workdir=tmp_path / "one",
                             report_dir=tmp_path / "two", env={"FAULTY_NARROW_SHAPE": shape})
    replayed = second.impl("faulty-narrow")["results"]["matches-oracle"]
    assert replayed["status"] == "failed", replayed["message"]
    assert replayed["counterexample"]["case"] == case
