"""One import name: the suite is the package ``lstm_conformance`` and nothing else.

In a checkout the package's modules live in the folders ``conformance/``, ``spec/`` and
``implementations/``, so a module could be imported a second time under its folder's name
(``conformance.session`` beside ``lstm_conformance.session``): a second copy of every
module-level state, and of every class, so that ``isinstance`` and the registries disagree.
A conformance run, started in the checkout (``pytest conformance``, what tox runs) and from
another directory (``python -m lstm_conformance run``, the reproduce commands), records in
every process (controller and xdist worker) the name and file of every module it holds;
each file of the suite must appear under one name, that name in ``lstm_conformance``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the module run by ``python -m`` (and multiprocessing's alias of it): one module, which
# Python itself names so
SCRIPT_NAMES = ("__main__", "__mp_main__")

RECORDER = textwrap.dedent('''
    import os
    import sys

    def pytest_unconfigure(config):
        out = os.path.join(os.environ["RECORD_MODULES_TO"], f"modules-{os.getpid()}.txt")
        with open(out, "w") as f:
            for name, module in sorted(sys.modules.items()):
                f.write(f"{name}\\t{getattr(module, '__file__', None) or ''}\\n")
''')


def _suite_folders() -> list[Path]:
    import lstm_conformance.implementations
    import lstm_conformance.spec

    return [Path(m.__file__).resolve().parent
            for m in (lstm_conformance, lstm_conformance.spec, lstm_conformance.implementations)]


def _recorded_run(tmp_path: Path, command: list[str], cwd: Path) -> list[dict[str, str]]:
    """Run ``command`` with the recorder plugin; {module name: file} of each process."""
    plugins = tmp_path / "recorder"
    plugins.mkdir()
    (plugins / "module_recorder.py").write_text(RECORDER)
    records = tmp_path / "records"
    records.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "HYPOTHESIS_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(plugins), RECORD_MODULES_TO=str(records),
               HYPOTHESIS_STORAGE_DIRECTORY=str(tmp_path / "hypothesis"))
    proc = subprocess.run([*command, "-p", "module_recorder", "-p", "no:cacheprovider",
                           "--lstm-impl", "torch-lstm", "-k", "torch-lstm:output-shapes",
                           "--lstm-profile", "quick", "--lstm-report-dir",
                           str(tmp_path / "report")],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    processes = []
    for written in sorted(records.glob("modules-*.txt")):
        lines = written.read_text().splitlines()
        processes.append(dict(line.split("\t", 1) for line in lines))
    return processes


@pytest.mark.parametrize("how", ["pytest-conformance-in-the-checkout", "lstm-conformance-run"])
def test_a_conformance_run_imports_every_module_of_the_suite_once(tmp_path, how):
    if how == "pytest-conformance-in-the-checkout":
        command, cwd = [sys.executable, "-m", "pytest", "conformance"], REPO
    else:
        command, cwd = [sys.executable, "-m", "lstm_conformance", "run"], tmp_path
    processes = _recorded_run(tmp_path, command, cwd)
    assert len(processes) == 2, "expected the controller and one xdist worker"
    folders = _suite_folders()
    for modules in processes:
        assert "lstm_conformance.test_conformance" in modules or \
            "lstm_conformance.session" in modules, "the run did not load the suite"
        names_of: dict[str, list[str]] = {}
        for name, file in modules.items():
            if name in SCRIPT_NAMES:
                continue
            if file and any(Path(file).resolve().is_relative_to(f) for f in folders):
                names_of.setdefault(str(Path(file).resolve()), []).append(name)
        twice = {file: names for file, names in names_of.items() if len(names) > 1}
        assert twice == {}, "imported under two names"
        foreign = sorted(n for names in names_of.values() for n in names
                         if n != "lstm_conformance" and not n.startswith("lstm_conformance."))
        assert foreign == [], "suite modules under a name outside lstm_conformance"
        generic = sorted(n for n in modules if n.partition(".")[0]
                         in ("spec", "implementations", "conformance"))
        assert generic == [], "a generic top-level name was imported"
