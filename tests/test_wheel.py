"""From a wheel, as a user would (README: "Register your implementation"): build the wheel,
install it with a small user plugin into a fresh virtual environment outside the
repository, and from a user's project directory run ``lstm-conformance run``, the user's
own pytest file that uses ``parametrize_with_checks``, and an unrelated test file with
pytest-profiling installed. Then a guest in a user's project that has its own ``spec`` and
``implementations`` packages and its own pytest configuration: the wheel adds the one
import name ``lstm_conformance``, the user's plain ``pytest`` runs their packages and
imports neither torch nor hypothesis, and a conformance run there uses the suite's modules
with the user's directory as its rootdir.

The fresh environment borrows the heavy dependencies (torch, numpy, hypothesis, pytest,
...) from this one through a path entry, so that no multi-GB download is needed; the
project itself comes only from the wheel (a test checks where it is imported from).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from site import getsitepackages

import pytest

ROOT = Path(__file__).resolve().parent.parent

PLUGIN_PYPROJECT = textwrap.dedent('''
    [build-system]
    requires = ["setuptools>=68"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "my-lstm"
    version = "0.0.1"

    [project.entry-points."lstm_conformance.implementations"]
    my-lstm = "my_lstm:MyLSTM"
''')
PLUGIN = textwrap.dedent('''
    from torch import nn

    class MyLSTM(nn.LSTM):
        """The user's LSTM (nn.LSTM under another name, for the test)."""
''')
USER_TEST = textwrap.dedent('''
    from lstm_conformance.checks import parametrize_with_checks
    from my_lstm import MyLSTM

    @parametrize_with_checks(MyLSTM, profile="quick", only=["matches-oracle", "lifecycle"])
    def test_my_lstm(check):
        check()
''')
UNRELATED = "def test_unrelated():\n    assert sum([1, 2]) == 3\n"


def _run(command: list, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "PYTEST_"))}
    proc = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc


@pytest.fixture(scope="module")
def user_env(tmp_path_factory):
    """(python, bin dir, user project dir) of a fresh venv with the wheel and the plugin."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    # built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    source = shutil.copytree(ROOT, work / "source", ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tox", "reports", "build", "*.egg-info", ".hypothesis",
        "__pycache__", "examples"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "-w", dist, source], cwd=work)
    if built.returncode != 0:
        pytest.skip(f"the wheel cannot be built here: {built.stderr[-800:]}")
    wheel = next(dist.glob("lstm_conformance-*.whl"))
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work).check_returncode()
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=work).stdout.strip())
    installed = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel],
                     cwd=work)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    project = work / "user-project"
    (project / "plugin").mkdir(parents=True)
    (project / "plugin" / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (project / "plugin" / "my_lstm.py").write_text(PLUGIN)
    # built into a wheel by this environment's pip and setuptools (the venv's own are too
    # old to build it), installed by the venv's pip like the project's wheel
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "-w", dist, project / "plugin"], cwd=work)
    assert built.returncode == 0, built.stdout + built.stderr
    plugin = _run([python, "-m", "pip", "install", "--no-deps", "--no-index",
                   next(dist.glob("my_lstm-*.whl"))], cwd=work)
    assert plugin.returncode == 0, plugin.stdout + plugin.stderr
    # this environment's packages, after the venv's own: torch and friends, not the project
    # (written last: pip would otherwise see this environment's lstm-conformance as
    # installed already, and skip the wheel)
    # (every site directory of this one: a virtual environment made with
    # --system-site-packages has its packages in two)
    (site / "borrowed.pth").write_text("".join(f"{d}\n" for d in getsitepackages()))
    return python, venv / "bin", project


def _readme_wheel_install() -> list[str]:
    """The README's install line for a built wheel, as written (its comment left off)."""
    lines = [line.split("#")[0].strip() for line in (ROOT / "README.md").read_text().splitlines()
             if line.strip().startswith("pip install") and ".whl" in line]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def test_the_readme_install_line_needs_no_file_of_the_repository(user_env):
    """The README's line, run as written from where the wheel was built (``dist/``), in the
    fresh environment: pip resolves it (dry run: the dependencies are borrowed here) to the
    wheel and the pinned CPU torch, without a constraints file and without CUDA packages."""
    python, _, project = user_env
    work = project.parent
    command = _readme_wheel_install()
    assert command[:2] == ["pip", "install"] and "-c" not in command and "-r" not in command
    wheel = next(a for a in command if a.endswith(".whl"))
    assert (work / wheel).is_file(), f"the README names {wheel}; built: {list(work.glob('dist/*'))}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_CONSTRAINT")}
    proc = subprocess.run([str(python), "-m", *command, "--dry-run", "--ignore-installed",
                           "--quiet", "--report", "-"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = {item["metadata"]["name"].lower(): item for item in
                json.loads(proc.stdout)["install"]}
    assert resolved["lstm-conformance"]["download_info"]["url"].endswith(Path(wheel).name)
    assert resolved["torch"]["metadata"]["version"].startswith("2.13.0")
    assert not [name for name in resolved if name.startswith("nvidia-")], sorted(resolved)


def test_the_project_comes_from_the_wheel(user_env):
    python, _, project = user_env
    where = _run([python, "-c", "import lstm_conformance.spec; print(lstm_conformance.__file__, "
                  "lstm_conformance.spec.__file__)"], cwd=project)
    assert where.returncode == 0, where.stderr
    assert str(ROOT) not in where.stdout and "site-packages" in where.stdout


def test_lstm_conformance_run_from_a_user_project(user_env):
    _, bin_dir, project = user_env
    proc = _run([bin_dir / "lstm-conformance", "run", "--lstm-impl", "my-lstm",
                 "--lstm-profile", "quick"], cwd=project)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert (project / "reports" / "index.html").is_file()
    assert (project / "reports" / "results.json").is_file()
    assert "my-lstm: conformant" in out


def test_the_users_own_pytest_file(user_env):
    python, _, project = user_env
    (project / "test_mine.py").write_text(USER_TEST)
    proc = _run([python, "-m", "pytest", "test_mine.py", "-p", "no:cacheprovider", "-q",
                 "--rootdir", project], cwd=project)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "2 passed" in proc.stdout


def test_an_unrelated_file_with_pytest_profiling(user_env):
    python, _, project = user_env
    got = _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "pytest-profiling",
                "gprof2dot", "six"], cwd=project, timeout=300)
    if got.returncode != 0:
        pytest.skip(f"pytest-profiling could not be installed here: {got.stderr[-500:]}")
    (project / "test_theirs.py").write_text(UNRELATED)
    proc = _run([python, "-m", "pytest", "test_theirs.py", "--profile", "-p",
                 "no:cacheprovider", "-q", "--rootdir", project], cwd=project)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "1 passed" in out and "lstm-conformance: profile" not in out


def test_a_plain_session_of_the_user_imports_nothing_of_the_suite(user_env):
    """Installed from the wheel (not editable): an unrelated pytest session of the user's
    loads the plugin and holds nothing of torch, numpy, hypothesis or the specification."""
    python, _, project = user_env
    theirs = project / "theirs"
    theirs.mkdir()
    (theirs / "test_plain.py").write_text(UNRELATED)
    (theirs / "conftest.py").write_text(
        "import sys\n\ndef pytest_unconfigure(config):\n"
        "    open('modules.txt', 'w').write('\\n'.join(sorted(sys.modules)))\n")
    proc = _run([python, "-m", "pytest", "test_plain.py", "-p", "no:cacheprovider", "-p",
                 "no:hypothesispytest", "-q"], cwd=theirs)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    modules = set((theirs / "modules.txt").read_text().split())
    assert "lstm_conformance.plugin" in modules
    heavy = ("torch", "numpy", "hypothesis", "spec", "implementations", "conformance",
             "matplotlib", "jinja2")
    assert sorted(m for m in modules if m.partition(".")[0] in heavy
                  or m.startswith("lstm_conformance.") and m != "lstm_conformance.plugin") == []


# -- a guest in a project with its own spec and implementations packages ------------------

THEIR_PYPROJECT = textwrap.dedent('''
    [project]
    name = "their-project"
    version = "1.0"

    [tool.pytest.ini_options]
    testpaths = ["tests"]
    addopts = "-p no:cacheprovider"
    markers = ["theirs: a marker of their own"]
''')
THEIR_SPEC = "RULES = ('their', 'own', 'spec')\n"
THEIR_IMPLEMENTATIONS = "NAMES = ('their', 'implementations')\n"
THEIR_TEST = textwrap.dedent('''
    import importlib
    from pathlib import Path

    import pytest

    HERE = Path(__file__).resolve().parent.parent
    # the top-level names "spec" and "implementations", whatever else is installed
    spec = importlib.import_module("spec")
    implementations = importlib.import_module("implementations")


    @pytest.mark.theirs
    def test_their_spec():
        assert spec.RULES == ("their", "own", "spec")
        assert Path(spec.__file__).resolve().parent == HERE / "spec"


    def test_their_implementations():
        assert implementations.NAMES == ("their", "implementations")
        assert Path(implementations.__file__).resolve().parent == HERE / "implementations"
''')
# their conftest.py: every process of a session writes the modules it holds, and where from
THEIR_CONFTEST = textwrap.dedent('''
    import os
    import sys
    from pathlib import Path

    def pytest_unconfigure(config):
        out = Path(__file__).parent / "records" / f"modules-{os.getpid()}.txt"
        out.parent.mkdir(exist_ok=True)
        out.write_text("".join(f"{name}\\t{getattr(module, '__file__', None) or ''}\\n"
                               for name, module in sorted(sys.modules.items())))
''')


@pytest.fixture(scope="module")
def their_project(user_env) -> Path:
    """A user's project beside the installed wheel: its own top-level ``spec`` and
    ``implementations`` packages, its tests, a pyproject.toml with pytest configuration."""
    project = user_env[2].parent / "their-project"
    for package, text in (("spec", THEIR_SPEC), ("implementations", THEIR_IMPLEMENTATIONS)):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(text)
    (project / "tests").mkdir()
    (project / "tests" / "test_theirs.py").write_text(THEIR_TEST)
    (project / "pyproject.toml").write_text(THEIR_PYPROJECT)
    (project / "conftest.py").write_text(THEIR_CONFTEST)
    return project


def _records(project: Path) -> list[dict[str, str]]:
    """{module: file} of every process of the last session in ``project``, then cleared."""
    processes = []
    for written in sorted((project / "records").glob("modules-*.txt")):
        processes.append(dict(line.split("\t", 1) for line in written.read_text().splitlines()))
        written.unlink()
    return processes


def test_the_wheel_adds_one_top_level_name(user_env):
    work = user_env[2].parent
    wheel = next((work / "dist").glob("lstm_conformance-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
    assert {name for name in top if not name.endswith(".dist-info")} == {"lstm_conformance"}


def test_plain_pytest_in_their_project_runs_their_packages_and_nothing_of_the_suite(
        user_env, their_project):
    """Their plain ``pytest`` runs their own ``spec`` and ``implementations``; the suite's
    plugin adds its two small modules and nothing else, torch least of all. (hypothesis's
    own pytest plugin, installed with the suite as its dependency, imports hypothesis at the
    end of every session, with or without the suite: ``-p no:hypothesispytest`` is the
    session without it, in test_a_plain_session_of_the_user_imports_nothing_of_the_suite.)"""
    python, _, _ = user_env
    sessions = {}
    for plugin, options in ((True, []), (False, ["-p", "no:lstm_conformance"])):
        proc = _run([python, "-m", "pytest", *options], cwd=their_project)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        assert "2 passed" in out
        (sessions[plugin],) = _records(their_project)
    modules = sessions[True]
    assert set(modules) - set(sessions[False]) == {"lstm_conformance", "lstm_conformance.plugin"}
    assert sorted(m for m in modules if m.partition(".")[0] == "torch") == []
    assert Path(modules["spec"]).resolve() == their_project / "spec" / "__init__.py"


def test_a_conformance_run_in_their_project_is_theirs(user_env, their_project):
    """``lstm-conformance run`` from their directory: the suite's own modules (never their
    ``spec`` or ``implementations``), their directory as rootdir, their pyproject.toml as
    the configuration file and their conftest.py loaded; the report in ./reports."""
    _, bin_dir, _ = user_env
    proc = _run([bin_dir / "lstm-conformance", "run", "--lstm-impl", "torch-lstm",
                 "--lstm-profile", "quick"], cwd=their_project)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"rootdir: {their_project}" in out and "configfile: pyproject.toml" in out, out[:2000]
    results = json.loads((their_project / "reports" / "results.json").read_text())
    assert results["implementations"]["torch-lstm"]["verdict"] == "conformant"
    processes = _records(their_project)
    assert len(processes) == 2, "expected their conftest in the controller and the worker"
    for modules in processes:
        assert sorted(m for m in modules
                      if m.partition(".")[0] in ("spec", "implementations", "conformance")) == []
        assert "site-packages" in modules["lstm_conformance.spec"]
