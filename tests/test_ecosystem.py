"""tools/ecosystem.py: the table is made from results.json files, one row per adapter."""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = json.loads((ROOT / "tests" / "fixtures" / "results_sample.json").read_text())


def test_the_table_has_a_row_per_adapter_and_none_for_built_ins(tmp_path):
    (tmp_path / "reports" / "some-adapter").mkdir(parents=True)
    (tmp_path / "reports" / "some-adapter" / "results.json").write_text(json.dumps(SAMPLE))
    out = tmp_path / "ECOSYSTEM.md"
    subprocess.run([sys.executable, str(ROOT / "tools" / "ecosystem.py"), "--reports",
                    str(tmp_path / "reports"), "--out", str(out)], check=True)
    text = out.read_text()
    adapters = [n for n, e in SAMPLE["implementations"].items()
                if e.get("distribution") != "lstm-conformance"]
    assert adapters
    for name in adapters:
        assert f"| `{name}` |" in text
    for name, entry in SAMPLE["implementations"].items():
        if entry.get("distribution") == "lstm-conformance":
            assert f"| `{name}` |" not in text
    assert "do not edit by hand" in text


def _table(tmp_path, results: dict) -> str:
    (tmp_path / "reports" / "an-adapter").mkdir(parents=True, exist_ok=True)
    (tmp_path / "reports" / "an-adapter" / "results.json").write_text(json.dumps(results))
    out = tmp_path / "ECOSYSTEM.md"
    subprocess.run([sys.executable, str(ROOT / "tools" / "ecosystem.py"), "--reports",
                    str(tmp_path / "reports"), "--out", str(out)], check=True, cwd=ROOT)
    return out.read_text()


def _with_current_specification() -> dict:
    from lstm_conformance.spec.invariants import INVARIANTS

    results = json.loads(json.dumps(SAMPLE))
    results["invariants"] = [inv.describe() for inv in INVARIANTS]
    return results


def _adapter_row(text: str) -> str:
    adapter = next(n for n, e in SAMPLE["implementations"].items()
                   if e.get("distribution") != "lstm-conformance")
    return next(line for line in text.splitlines() if line.startswith(f"| `{adapter}` |"))


def test_a_row_run_with_the_current_specification_says_so(tmp_path):
    row = _adapter_row(_table(tmp_path, _with_current_specification()))
    assert "(current specification)" in row and "older specification" not in row


def test_a_row_run_with_an_older_specification_names_what_changed(tmp_path):
    results = _with_current_specification()
    results["invariants"][0]["statement"] += " (reworded)"
    dropped = results["invariants"].pop()
    row = _adapter_row(_table(tmp_path, results))
    assert "**older specification**" in row
    assert f"~{results['invariants'][0]['id']}" in row and f"+{dropped['id']}" in row


def _adapter_entry(results: dict) -> dict:
    return next(e for e in results["implementations"].values()
                if e.get("distribution") != "lstm-conformance")


def test_a_requirement_it_meets_leaves_a_row_current(tmp_path):
    """A run made before an invariant gained a requirement the implementation supports:
    the check applied then as it does now, so the row is current for it and says why."""
    results = _with_current_specification()
    _adapter_entry(results)["unsupported"] = ["packed"]
    results["invariants"][0]["requires"] = ["multi_layer"]  # the run's: one more than now
    row = _adapter_row(_table(tmp_path, results))
    assert "older specification" not in row
    assert (f"current for this implementation: since, only the requirements of "
            f"`{results['invariants'][0]['id']}` changed") in row


def test_a_requirement_it_declares_unsupported_makes_a_row_older(tmp_path):
    """The same change in a capability the implementation declares unsupported decides
    whether the check applies to it: the row is older."""
    results = _with_current_specification()
    _adapter_entry(results)["unsupported"] = ["multi_layer"]
    results["invariants"][0]["requires"] = ["multi_layer"]
    row = _adapter_row(_table(tmp_path, results))
    assert "**older specification**" in row and f"~{results['invariants'][0]['id']}" in row


def test_one_reason_is_stated_once_per_row(tmp_path):
    results = _with_current_specification()
    entry = next(e for e in results["implementations"].values()
                 if e.get("distribution") != "lstm-conformance")
    ids = [inv["id"] for inv in results["invariants"][:3]]
    for invariant in ids:
        entry["results"][invariant] = {"status": "known_failure",
                                       "known_failure_reason": "one cause (upstream#1)"}
    row = _adapter_row(_table(tmp_path, results))
    assert row.count("one cause (upstream#1)") == 1
    assert ", ".join(f"`{i}`" for i in ids) + ": one cause (upstream#1)" in row


def test_every_row_of_the_committed_table_was_run_with_the_current_specification():
    """docs/ECOSYSTEM.md goes stale when an invariant changes after its adapters ran:
    re-run them (`tox -m adapters`) and regenerate it (`tox -e ecosystem`). A row the
    table itself marks as run with an older specification is honest and passes."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import ecosystem
    finally:
        sys.path.pop(0)
    described = {d["id"]: d for d in ecosystem.current_invariants()}
    current = ecosystem.fingerprint(ecosystem.specification(list(described.values())))
    table = (ROOT / "docs" / "ECOSYSTEM.md").read_text().splitlines()
    rows = [line for line in table if line.startswith("| `")]
    assert rows
    stale = [line.split("|")[1].strip() for line in rows
             if f"spec {current}" not in line and "**older specification**" not in line
             and ecosystem.CURRENT_FOR_IT not in line]
    assert not stale, (f"run with another specification than the current {current}, "
                       f"without saying so: {stale}")
    for line in rows:  # "current for it": what can be checked without the run's own spec
        if ecosystem.CURRENT_FOR_IT in line:
            named = re.findall(r"`([a-z0-9-]+)`", line.split(ecosystem.CURRENT_FOR_IT)[1])
            declared = re.search(r"\(declares no ([^)]*)\)", line)
            gaps = set(declared.group(1).split(", ")) if declared else set()
            assert named, line
            for invariant in named:
                assert not set(described[invariant]["requires"]) & gaps, (invariant, line)
