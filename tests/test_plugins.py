"""Plug in any LSTM: a distribution of its own, registered in the entry-point group, is
discovered, listed, selected and judged like the built-ins.

The distributions under ``tests/plugins`` are pip-installed into a temporary directory
(``tests/conftest.py``) and every check runs ``pytest conformance`` in a subprocess with
that directory on PYTHONPATH, as a user's environment would have them.

* ``independent-lstm``: a correct drop-in LSTM written without this project's code
  (``independent``), and three realistic bugs as small subclasses of it.
* ``faulty-lstms``: implementations that fail to import, to construct, or that declare or
  refuse part of the surface (the crashing ones are ``tests/test_isolation.py``'s).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\.py:\d+: in \w+")


@pytest.fixture(scope="module")
def independent_run(conformance_run):
    return conformance_run("--lstm-impl", "independent", "--lstm-profile", "default")


def test_independent_lstm_is_discovered_and_fully_conformant(independent_run):
    run = independent_run
    entry = run.impl("independent")
    # what a default run on the CPU checks: every invariant but the stress profile's; the
    # device contract's are not applicable on the CPU (and take nothing from the level)
    from lstm_conformance.profiles import invariants_for

    checked = {inv.id: "not_applicable" if inv.chapter == "device" else "passed"
               for inv in invariants_for("default")}
    assert len(checked) >= 25 and "passed" in checked.values()
    assert run.returncode == 0, run.output[-3000:]
    assert (entry["distribution"], entry["version"]) == ("independent-lstm", "0.3.1")
    assert entry["kind"] == "drop-in" and entry["unsupported"] == []
    assert (entry["verdict"], entry["level"], entry["load_error"]) == ("conformant", "full", None)
    assert run.statuses("independent") == checked
    for invariant, result in entry["results"].items():
        if checked[invariant] == "passed":
            assert result["not_applicable_examples"] == 0, invariant
            assert result["examples"] > 0, invariant


#: Each seeded bug: the invariants that must fail (with a substring of the message) and
#: invariants its bug cannot touch, which must still pass.
BUGS = {
    "independent-gates-ifog": (
        {"matches-oracle": "oracle", "gate-probe": "gate-probe"},
        ["last-step-forward", "batch-first", "packed-uniform-is-dense", "dropout-eval"]),
    "independent-packed-padded-end": (
        {"packed-per-sequence": "packed-per-sequence"},
        ["gate-probe", "batch-first", "packed-uniform-is-dense", "dropout-eval"]),
    "independent-dropout-eval": (
        {"dropout-eval": "dropout-eval"},
        ["last-step-forward", "dropout-train-structure", "gate-probe"]),
}
BUG_INVARIANTS = sorted({inv for failing, passing in BUGS.values() for inv in [*failing, *passing]})


@pytest.fixture(scope="module")
def buggy_run(conformance_run):
    impls = [arg for name in BUGS for arg in ("--lstm-impl", name)]
    # ":dropout-eval", not "dropout-eval": -k matches substrings of the ids "impl:invariant"
    keyword = " or ".join(f":{inv}" for inv in BUG_INVARIANTS)
    return conformance_run(*impls, "--lstm-profile", "default", "-k", keyword)


@pytest.mark.parametrize("name", sorted(BUGS))
def test_each_seeded_bug_fails_its_invariants_and_only_those(buggy_run, name):
    failing, passing = BUGS[name]
    entry = buggy_run.impl(name)
    statuses = buggy_run.statuses(name)
    assert buggy_run.returncode == 1
    assert entry["verdict"] == "non-conformant"
    assert set(statuses) == set(BUG_INVARIANTS)
    for invariant, check in failing.items():
        result = entry["results"][invariant]
        assert result["status"] == "failed", (invariant, result["message"])
        assert result["counterexample"]["check"] == check, (invariant, result["message"])
        assert result["counterexample"]["case"]["input_size"] >= 1
        assert f"--lstm-impl {name}" in result["reproduce"]
    for invariant in passing:
        assert statuses[invariant] == "passed", (invariant, entry["results"][invariant]["message"])


def _blocks(listing: str) -> dict[str, str]:
    """The listing's entries by implementation name (a name line and its indented lines)."""
    blocks: dict[str, str] = {}
    name = None
    for line in listing.splitlines():
        if line and not line[0].isspace():
            name = line.split()[0]
            blocks[name] = line
        elif name is not None:
            blocks[name] += "\n" + line
    return blocks


def _console_script() -> str:
    script = shutil.which("lstm-conformance", path=str(Path(sys.executable).parent))
    assert script, "the lstm-conformance console script is not installed next to python"
    return script


@pytest.mark.parametrize("how", ["--lstm-list-impls", "lstm-conformance list"])
def test_listing_shows_a_plugins_distribution_version_and_capabilities(site_command, how):
    if how == "--lstm-list-impls":
        code, output = site_command(sys.executable, "-m", "pytest", "conformance",
                                    "-p", "no:cacheprovider", "--lstm-list-impls")
    else:
        code, output = site_command(_console_script(), "list")
    assert code == 0, output[-3000:]
    blocks = _blocks(output)
    assert "torch-lstm" in blocks  # built-ins and plugins side by side
    assert blocks["independent"].startswith(
        "independent  (independent-lstm 0.3.1)  independent_lstm:IndependentLSTM")
    assert "kind: drop-in; unsupported: nothing" in blocks["independent"]
    gaps = blocks["declares-gaps"]
    assert gaps.startswith("declares-gaps  (faulty-lstms 0.0.8)")
    assert "kind: drop-in; unsupported: packed, proj_size" in gaps
    supports = re.search(r"supports: (.*)", gaps).group(1).split(", ")
    assert "bidirectional" in supports and "packed" not in supports
    assert "proj_size" not in supports
    assert "kind: backend; unsupported: autograd" in blocks["partial-backend"]
    assert "BROKEN:" in blocks["faulty-import"] and "ModuleNotFoundError" in blocks["faulty-import"]


def test_impl_twice_selects_exactly_those_two(conformance_run):
    run = conformance_run("--lstm-impl", "independent", "--lstm-impl", "declares-gaps",
                          "--lstm-profile", "quick", "-k", "output-shapes")
    assert run.returncode == 0, run.output[-3000:]
    assert set(run.results["implementations"]) == {"independent", "declares-gaps"}
    assert run.results["run"]["selection"]["impl"] == ["independent", "declares-gaps"]
    for name in ("independent", "declares-gaps"):
        assert run.statuses(name) == {"output-shapes": "passed"}


def test_unknown_impl_is_a_usage_error_listing_the_registered_names(conformance_run):
    run = conformance_run("--lstm-impl", "independent", "--lstm-impl", "no-such-lstm", timeout=120)
    assert run.returncode == 4, run.output[-3000:]  # pytest.ExitCode.USAGE_ERROR
    assert "no-such-lstm" in run.output
    for registered in ("independent", "faulty-nan", "torch-lstm"):
        assert registered in run.output
    assert not TRACEBACK.search(run.output), run.output[-3000:]
    assert run.results is None


def test_broken_plugins_are_reported_and_the_rest_still_runs(conformance_run):
    run = conformance_run("--lstm-impl", "faulty-import", "--lstm-impl", "faulty-unusable",
                          "--lstm-impl", "faulty-ctor", "--lstm-impl", "torch-lstm",
                          "--lstm-profile", "quick")
    assert run.returncode == 1, run.output[-3000:]
    expected = {
        "faulty-import": r"failed to import: ModuleNotFoundError: .*faulty_lstms_no_such_module",
        "faulty-unusable": r"names an object of type int, which is neither a drop-in class",
        "faulty-ctor": r"could not be constructed .*TypeError: cannot build",
    }
    for name, pattern in expected.items():
        entry = run.impl(name)
        assert entry["verdict"] == "broken"
        assert re.search(pattern, entry["load_error"]), entry["load_error"]
        assert (entry["distribution"], entry["version"]) == ("faulty-lstms", "0.0.8")
    torch_lstm = run.impl("torch-lstm")
    assert torch_lstm["verdict"] == "conformant"
    # every check of the profile (the stress profile's are listed in the catalogue, not run)
    from lstm_conformance.profiles import invariants_for

    assert set(torch_lstm["results"]) == {inv.id for inv in invariants_for("quick")}


def test_a_broken_plugin_is_reported_when_k_selects_other_checks(conformance_run):
    """-k picks invariants; it must not hide that a selected implementation cannot load."""
    run = conformance_run("--lstm-impl", "faulty-ctor", "--lstm-impl", "torch-lstm",
                          "--lstm-profile", "quick",
                          "-k", "output-shapes")
    assert run.impl("torch-lstm")["verdict"] == "conformant"
    assert "faulty-ctor" in run.results["implementations"], "the broken plugin vanished"
    assert run.impl("faulty-ctor")["verdict"] == "broken"
    assert run.returncode != 0


@pytest.fixture(scope="module")
def gaps_run(conformance_run):
    return conformance_run(
        "--lstm-impl", "declares-gaps", "--lstm-impl", "partial-backend",
        "--lstm-profile", "default", "-k",
        "packed-per-sequence or packed-uniform-is-dense or first-step-backward or time-reversal"
        " or matches-oracle or output-shapes")


def test_declared_gaps_are_not_applicable_and_named(gaps_run):
    entry = gaps_run.impl("declares-gaps")
    assert gaps_run.returncode == 0, gaps_run.output[-3000:]
    assert entry["unsupported"] == ["packed", "proj_size"]
    assert (entry["verdict"], entry["level"]) == ("conformant", "partial")
    for invariant in ("packed-per-sequence", "packed-uniform-is-dense"):
        result = entry["results"][invariant]
        assert result["status"] == "not_applicable"
        assert "packed: declared unsupported" in result["message"]
        assert result["examples"] == 0
    for invariant in ("first-step-backward", "time-reversal", "matches-oracle", "output-shapes"):
        assert entry["results"][invariant]["status"] == "passed"
        # gaps are honoured by never drawing such cases, not by refusing them
        assert entry["results"][invariant]["not_applicable_examples"] == 0


def test_cases_a_backend_refuses_are_not_applicable(gaps_run):
    entry = gaps_run.impl("partial-backend")
    assert entry["kind"] == "backend"
    assert (entry["verdict"], entry["level"]) == ("conformant", "partial")
    refusal = "partial-backend does not implement bidirectional LSTMs"
    for invariant in ("first-step-backward", "time-reversal"):  # bidirectional=True only
        result = entry["results"][invariant]
        assert result["status"] == "not_applicable"
        assert refusal in result["message"]
    for invariant in ("matches-oracle", "output-shapes", "packed-per-sequence"):
        result = entry["results"][invariant]
        assert result["status"] == "passed"
        assert result["examples"] > 0
        assert result["not_applicable_examples"] > 0  # its bidirectional cases
        assert all(refusal in reason for reason in result["not_applicable_reasons"])


def test_a_plugin_that_names_no_framework_gets_its_requirements_versions():
    from importlib import metadata

    from lstm_conformance.selection import requirement_versions

    said = requirement_versions("pytest-xdist")
    assert said is not None and f"execnet {metadata.version('execnet')}" in said
    assert requirement_versions("lstm-conformance") is None
    assert requirement_versions("no-such-distribution-here") is None
