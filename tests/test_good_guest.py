"""The plugin is a good guest in someone else's pytest session: with pytest-profiling and
pytest-xdist installed beside it, an unrelated test suite runs as if it were not there."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

UNRELATED = textwrap.dedent('''
    import faulthandler

    def test_unrelated():
        assert 1 + 1 == 2

    def test_faulthandler_is_pytests():
        # pytest's own faulthandler writes to stderr; a conformance crash log would not be
        assert faulthandler.is_enabled()
''')


@pytest.fixture(scope="module")
def profiling_site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("profiling-site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--target", str(target), "pytest-profiling", "gprof2dot", "six"],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"pytest-profiling could not be installed here: {proc.stderr[-500:]}")
    return target


def test_an_unrelated_suite_with_profiling_and_xdist_is_untouched(profiling_site, tmp_path):
    project = tmp_path / "someone-else"
    project.mkdir()
    (project / "test_theirs.py").write_text(UNRELATED)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": str(profiling_site), "TMPDIR": str(scratch)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--profile",
         "test_theirs.py"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "2 passed" in out
    assert "conflicting option string" not in out
    assert "lstm-conformance: profile" not in out
    assert not list(scratch.glob("lstm-conformance-*")), "the plugin left a directory"
    assert not (project / "reports").exists(), "the plugin wrote a report"
    assert (project / "prof").is_dir(), "pytest-profiling did not run"
