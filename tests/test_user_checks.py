"""parametrize_with_checks in a user's own test module (examples/user-project): one test per
check, the declared gap skipped, the known failure an xfail, the rest passing; and the
conformance plugin takes no part in that session."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_user_project_runs_one_test_per_check(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "examples" / "user-project" / "tests"),
         "-v", "-rsx", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for passed in ("matches-oracle", "batch-independence", "lifecycle"):
        assert f"test_my_lstm[{passed}] PASSED" in out, out[-3000:]
    assert "test_my_lstm[packed-per-sequence] SKIPPED" in out
    assert "test_my_lstm[bad-input-raises] XFAIL" in out
    assert "my-project#12" in out
    assert not (tmp_path / "reports").exists(), "a report was written without being asked"
    assert "lstm-conformance: profile" not in out  # the plugin's header: not a conformance run
