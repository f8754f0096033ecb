"""Your plugin in tox without editing tox.ini: LSTM_CONFORMANCE_PLUGINS reaches pip."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tox_config(env_value: str | None) -> str:
    tox = shutil.which("tox") or shutil.which("tox", path=str(Path(sys.executable).parent))
    if tox is None:
        pytest.skip("tox is not installed in this environment")
    env = {k: v for k, v in os.environ.items() if k != "LSTM_CONFORMANCE_PLUGINS"}
    if env_value is not None:
        env["LSTM_CONFORMANCE_PLUGINS"] = env_value
    proc = subprocess.run([tox, "config", "-e", "conformance", "-k", "deps"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_plugin_variable_becomes_a_dependency():
    assert "-e ../my-lstm" in _tox_config("-e ../my-lstm")


def test_without_it_there_is_no_extra_dependency():
    deps = _tox_config(None).split("deps =", 1)[1].strip()
    assert deps == "", deps
