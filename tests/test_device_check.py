"""``tools/device_check.sh``, the prepared run for a machine with a GPU, end to end on the
CPU with ``--short``: every step runs and writes what it promises under ``$OUT``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_device_check_runs_end_to_end_on_the_cpu(tmp_path):
    """Minutes (--run-slow): three implementations at the quick profile, the precision
    measurements, two stress checks."""
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["bash", str(REPO / "tools" / "device_check.sh"), "--device", "cpu",
                           "--short"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = (tmp_path / "summary.txt").read_text()
    for step in ("environment", "conformance-quick", "precision", "stress", "bench_oracle"):
        assert f"{step} rc=0 " in summary, summary
    quick = json.loads((tmp_path / "conformance-quick" / "results.json").read_text())
    assert quick["run"]["device"] == "cpu"
    assert quick["run"]["precision"] == {"tf32_matmul": False, "tf32_cudnn": False,
                                         "float32_matmul_precision": "highest",
                                         "autocast": None}
    assert set(quick["implementations"]) == {"torch-lstm", "cell-loop", "stacked"}
    stress = json.loads((tmp_path / "stress" / "results.json").read_text())
    assert set(stress["implementations"]["torch-lstm"]["results"]) == {
        "stress-batch", "stress-hidden-size"}
    precision = json.loads((tmp_path / "precision.json").read_text())
    tf32 = [row for row in precision if "TF32 on" in row["policy"]]
    assert tf32 and all("CUDA only" in row["skipped"] for row in tf32)
