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


# -- asleep unless asked: what an unrelated session imports --------------------------------

# nothing of these may be imported by loading the plugin into a session that is not a
# conformance run (contract 3: no torch, numpy, hypothesis or specification)
# (and no generic top-level name at all: the suite is lstm_conformance alone)
HEAVY = ("torch", "numpy", "hypothesis", "matplotlib", "jinja2", "spec", "implementations",
         "conformance")
# all the suite that such a session may hold: the package and the plugin module
PLUGIN_ONLY = {"lstm_conformance", "lstm_conformance.plugin"}

RECORDER = textwrap.dedent('''
    import os
    import sys

    def pytest_unconfigure(config):
        # every process of the session (xdist workers too) writes what it has imported
        loaded = config.pluginmanager.hasplugin("lstm_conformance")
        out = os.path.join(os.path.dirname(__file__), f"modules-{os.getpid()}.txt")
        with open(out, "w") as f:
            f.write(f"plugin loaded: {loaded}\\n")
            f.write("\\n".join(sorted(sys.modules)))
''')


def _unrelated_session(tmp_path: Path, *args: str, plugin: bool = True) -> list[set[str]]:
    """Run plain pytest on an unrelated test file; the modules of each of its processes."""
    project = tmp_path / "someone-else"
    project.mkdir(parents=True)
    (project / "test_theirs.py").write_text("def test_theirs():\n    assert 1 + 1 == 2\n")
    (project / "conftest.py").write_text(RECORDER)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "HYPOTHESIS_", "PYTHONPATH"))}
    # the plugin arrives through its pytest11 entry point, as in a user's environment
    choose = [] if plugin else ["-p", "no:lstm_conformance"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *choose,
                           *args, "test_theirs.py"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "1 passed" in proc.stdout
    sessions = []
    for written in sorted(project.glob("modules-*.txt")):
        first, *modules = written.read_text().splitlines()
        assert first == f"plugin loaded: {plugin}", written.name
        sessions.append(set(modules))
    return sessions


def _suite_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules
                  if m.partition(".")[0] in HEAVY
                  or m.startswith("lstm_conformance.") and m not in PLUGIN_ONLY)


@pytest.mark.parametrize("xdist", [False, True], ids=["plain", "xdist-workers"])
def test_an_unrelated_session_imports_nothing_of_the_suite(tmp_path, xdist):
    # hypothesis's own pytest plugin imports hypothesis at the end of every session (its
    # pytest_terminal_summary imports hypothesis.internal.observability), with or without
    # this suite; without it, the plugin under test is the only thing that could
    args = ["-p", "no:hypothesispytest", *(["-n", "1"] if xdist else [])]
    sessions = _unrelated_session(tmp_path, *args)
    assert len(sessions) == (2 if xdist else 1)
    for modules in sessions:
        assert PLUGIN_ONLY <= modules, "the plugin was not loaded"
        assert _suite_modules(modules) == []


def test_the_plugin_adds_only_itself_to_an_unrelated_session(tmp_path):
    # with every plugin of the environment as a user has them: the difference the plugin
    # makes is its own small module
    (with_it,) = _unrelated_session(tmp_path / "with")
    (without,) = _unrelated_session(tmp_path / "without", plugin=False)
    assert with_it - without == PLUGIN_ONLY
    # hypothesis's own plugin brings hypothesis, never torch or numpy
    assert not {m for m in with_it if m.partition(".")[0] in ("torch", "numpy")}


def test_the_plugin_and_the_session_agree_on_the_worker_key():
    # the plugin keeps its own copy, so that deciding whether a worker belongs to a
    # conformance run needs no import of conformance.session
    from lstm_conformance import plugin, session

    assert plugin.WORKER_KEY == session.WORKER_KEY
