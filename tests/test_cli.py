"""The lstm-conformance console script: list, run, report, and --help for each."""

import json
import shutil
from pathlib import Path

import pytest

from conformance.cli import main

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
