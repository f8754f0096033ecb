"""Running ``pytest conformance`` in a subprocess with the plugins of ``tests/plugins`` installed.

``conformance_run(*args)`` runs ``python -m pytest conformance -p no:cacheprovider
--lstm-report-dir DIR *args`` from the repo root with the test plugin distributions on
PYTHONPATH (pip-installed into a temporary target once per session), and returns a
``Run``: exit status, output, and the parsed ``results.json`` if one was written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"


@dataclass
class Run:
    returncode: int
    output: str
    results: dict | None
    workdir: Path

    def impl(self, name: str) -> dict:
        assert self.results is not None, f"no results.json written:\n{self.output[-3000:]}"
        return self.results["implementations"][name]

    def statuses(self, name: str) -> dict[str, str]:
        return {inv: r["status"] for inv, r in self.impl(name)["results"].items()}


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """The test plugins, pip-installed (from copies) into a target dir for PYTHONPATH."""
    src = tmp_path_factory.mktemp("plugin-src")
    target = tmp_path_factory.mktemp("plugin-site")
    junk = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    trees = [shutil.copytree(PLUGINS / name, src / name, ignore=junk)
             for name in ("independent", "faulty")]
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), *map(str, trees)],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def run_command(command: list[str], site: Path, workdir: Path, timeout: float,
                env: dict | None = None) -> tuple[int, str]:
    """Run ``command`` from the repo root with ``site`` on PYTHONPATH; kill its whole process
    group if it outlives ``timeout``. Hypothesis storage and temp files go under ``workdir``."""
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "HYPOTHESIS_", "PYTHONPATH"))}
    base.update(PYTHONPATH=str(site), TMPDIR=str(workdir / "tmp"),
                HYPOTHESIS_STORAGE_DIRECTORY=str(workdir / "hypothesis"), **(env or {}))
    proc = subprocess.Popen(command, cwd=REPO, env=base, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{' '.join(command)} did not finish in {timeout} s:\n{output[-3000:]}")
    return proc.returncode, output


@pytest.fixture(scope="session")
def conformance_run(plugin_site, tmp_path_factory):
    """``conformance_run(*args, timeout=..., env=..., report_dir=..., workdir=...) -> Run``."""

    def run(*args: str, timeout: float = 240, env: dict | None = None,
            report_dir: Path | None = None, workdir: Path | None = None) -> Run:
        workdir = workdir or tmp_path_factory.mktemp("run")
        report_dir = report_dir or workdir / "report"
        command = [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider",
                   "--lstm-report-dir", str(report_dir), *args]
        code, output = run_command(command, plugin_site, workdir, timeout, env)
        path = report_dir / "results.json"
        results = json.loads(path.read_text()) if path.is_file() else None
        return Run(code, output, results, workdir)

    return run


@pytest.fixture(scope="session")
def site_command(plugin_site, tmp_path_factory):
    """``site_command(*command, timeout=...) -> (exit status, output)``, plugins installed."""

    def run(*command: str, timeout: float = 120) -> tuple[int, str]:
        return run_command(list(command), plugin_site, tmp_path_factory.mktemp("cmd"), timeout)

    return run


def pytest_addoption(parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (minutes each: production sizes)")


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``slow`` (minutes each) run only with ``--run-slow``, so ``tox -e tests``
    stays within its time; a skipped one says how to run it."""
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow (minutes): run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
