"""The lstm-conformance console script: list, run, report, and --help for each."""

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from lstm_conformance.cli import main

SAMPLE = Path(__file__).parent / "fixtures" / "results_sample.json"

BENCHMARK = {"benchmarks": [
    {"param": f"{impl}-latency-forward", "extra_info": {"impl": impl, "shape": "latency",
                                                         "mode": "forward"},
     "stats": {"mean": mean, "stddev": 0.0, "rounds": 3, "median": mean}}
    for impl, mean in (("torch-lstm", 0.002), ("cell-loop", 0.03))]}


def test_report_rerenders_with_benchmarks(tmp_path, capsys):
    shutil.copy(SAMPLE, tmp_path / "results.json")
    results = json.loads(SAMPLE.read_text())
    results.pop("benchmarks", None)
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "benchmark.json").write_text(json.dumps(BENCHMARK))
    assert main(["report", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "results.json").read_text())
    assert [r["ratio_to_torch"] for r in written["benchmarks"]] == [1.0, 15.0]
    html = (tmp_path / "index.html").read_text()
    assert "cell-loop-latency-forward" in html
    assert "index.html" in capsys.readouterr().out


def test_report_without_results_says_what_to_do(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results.json" in err and "Run the conformance checks first" in err


def test_list_names_the_built_ins(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("torch-lstm", "cell-loop", "stacked", "numpy-reference"):
        assert name in out
    assert "unsupported: autograd" in out  # numpy-reference declares no autograd


@pytest.mark.parametrize("command", [[], ["list"], ["run"], ["report"]])
def test_every_command_has_help_and_does_nothing_else(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lstm-conformance")
    assert "--help/results.json" not in out
    assert not list(tmp_path.iterdir()), "--help wrote something"
    if command == ["run"]:
        assert "--lstm-impl" in out and "--lstm-profile" in out and "--lstm-report-dir" in out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"lstm-conformance {version('lstm-conformance')}"


# -- errors that need no torch answer without it -----------------------------------------

HEAVY = ("torch", "numpy", "hypothesis", "matplotlib", "jinja2", "spec", "implementations")


# runs ``python -m MODULE ARGS`` in this process, then lists every module it imported
WRAPPER = """
import runpy, sys
module, out, *args = sys.argv[1:]
sys.argv = [module, *args]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code
with open(out, "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def _imports(module: str, args: list[str], cwd: Path) -> tuple[int, str, set[str]]:
    """Exit status, output and the modules in ``sys.modules`` after ``python -m MODULE ARGS``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "HYPOTHESIS_", "PYTHONPATH"))}
    listing = cwd.parent / f"{cwd.name}-modules.txt"
    proc = subprocess.run([sys.executable, "-c", WRAPPER, module, str(listing), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr, set(listing.read_text().split())


@pytest.mark.parametrize(("args", "says"), [
    (["bogus"], "invalid choice: 'bogus'"),
    (["list", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "--lstm-profile", "bogus"], "invalid choice: 'bogus'"),
    (["report", "missing-dir"], "Run the conformance checks first"),
    (["--version"], "lstm-conformance "),
], ids=["unknown-command", "bad-option", "unknown-profile", "missing-report", "version"])
def test_command_line_errors_answer_without_torch(args, says, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    code, output, modules = _imports("lstm_conformance", args, work)
    assert code == (0 if args == ["--version"] else 2), output
    assert says in output
    assert "lstm_conformance.cli" in modules  # the measurement saw the suite's own imports
    assert sorted(m for m in modules if m.partition(".")[0] in (*HEAVY, "pytest")) == []
    assert not list(work.iterdir()), "an error wrote something"


def test_pytest_with_an_unknown_profile_answers_without_torch(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    code, output, modules = _imports("pytest", ["-p", "no:cacheprovider",
                                                "--lstm-profile", "bogus"], work)
    assert code == 4, output  # pytest's usage error
    assert "--lstm-profile: invalid choice: 'bogus'" in output
    assert "lstm_conformance.plugin" in modules
    assert sorted(m for m in modules if m.partition(".")[0] in HEAVY) == []


def test_a_reproduce_run_from_another_directory(tmp_path):
    """As a failure's reproduce command runs (``python -m lstm_conformance run ...``), from a
    directory outside the suite's tree, in its xdist worker: no assertion-rewrite warning
    about the suite's package, node ids that name the test module (the controller and the
    worker agree on them), and the suite's version in the report."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "HYPOTHESIS_", "PYTHONPATH"))}
    env.update(TMPDIR=str(tmp_path), HYPOTHESIS_STORAGE_DIRECTORY=str(tmp_path / "hyp"))
    proc = subprocess.run(
        [sys.executable, "-m", "lstm_conformance", "run", "--lstm-impl", "torch-lstm", "-k",
         "torch-lstm:output-shapes", "--lstm-profile", "quick", "--lstm-report-dir", "out",
         "-rA"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert "test_conformance[torch-lstm:output-shapes]" in out, out[-3000:]
    assert "PytestAssertRewriteWarning" not in out, out[-3000:]
    assert "::test_conformance[" in out
    assert " ::test_conformance[" not in out, out[-3000:]
    assert ("lstm_conformance/test_conformance.py::test_conformance[torch-lstm:output-shapes]"
            in out)
    results = json.loads((work / "out" / "results.json").read_text())
    assert results["run"]["versions"]["lstm_conformance"] == version("lstm-conformance")
    html = (work / "out" / "index.html").read_text()
    assert f"Generated by lstm-conformance {version('lstm-conformance')}" in html


def test_run_passes_the_device_and_the_tf32_choice_to_pytest(monkeypatch):
    import pytest as real_pytest

    from lstm_conformance import cli

    seen = []
    monkeypatch.setattr(real_pytest, "main", lambda args: seen.append(args) or 0)
    assert cli.main(["run", "--lstm-device", "cuda:1", "--lstm-tf32", "off",
                     "--lstm-profile", "stress"]) == 0
    args = seen[0]
    assert args[args.index("--lstm-device") + 1] == "cuda:1"
    assert args[args.index("--lstm-tf32") + 1] == "off"
    assert args[args.index("--lstm-profile") + 1] == "stress"
    cli.main(["run"])
    assert seen[1][seen[1].index("--lstm-device") + 1] == "cpu"
