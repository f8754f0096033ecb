"""A check's time limit follows the profile: as many examples as the thorough profile draws
need more than the 300 s that 25 do, unless the user gives --timeout."""

import subprocess
import sys
from pathlib import Path

import pytest

from lstm_conformance.plugin import DEFAULT_TIMEOUT_S, _profile

ROOT = Path(__file__).resolve().parents[1]


def test_the_profile_is_read_from_the_command_line():
    assert _profile(["conformance"]) == "default"
    assert _profile(["--lstm-profile", "thorough", "conformance"]) == "thorough"
    assert _profile(["--lstm-profile=quick", "--lstm-profile=stress"]) == "stress"
    assert DEFAULT_TIMEOUT_S["thorough"] > DEFAULT_TIMEOUT_S["default"]


@pytest.mark.parametrize("given, limit", [
    (["--lstm-profile", "thorough"], "2400.0s"),
    (["--lstm-profile", "quick"], "300.0s"),
    (["--lstm-profile", "thorough", "--timeout", "17"], "17.0s"),
])
def test_a_run_gets_its_profiles_limit_unless_it_gives_one(given, limit):
    run = subprocess.run([sys.executable, "-m", "pytest", "conformance", "--collect-only",
                          "-n", "0", "-p", "no:cacheprovider", "--lstm-impl", "torch-lstm",
                          *given], cwd=ROOT, capture_output=True, text=True, timeout=300)
    header = run.stdout + run.stderr
    assert f"timeout: {limit}" in header, header[-2000:]
