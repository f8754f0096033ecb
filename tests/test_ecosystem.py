"""tools/ecosystem.py: the table is made from results.json files, one row per adapter."""

import json
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
