"""What the plugin costs a pytest session that is not a conformance run.

    python benchmarks/startup.py [--repeat N] [--plugin-from DIR]

Runs ``python -m pytest -q -p no:cacheprovider test_theirs.py`` (one trivial test, in a
temporary directory, with every pytest plugin of this environment) N times with the
lstm-conformance plugin and N times without it (``-p no:lstm_conformance``), alternating,
and prints the wall time of each (median, min, max) and the number of modules the session
held. ``--plugin-from DIR`` loads ``lstm_conformance.plugin`` from DIR instead (another
version installed there, for example ``pip install --no-deps --target DIR
lstm_conformance-<version>-py3-none-any.whl``), to compare with it. docs/PERFORMANCE.md
has the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = "def test_theirs():\n    assert 1 + 1 == 2\n"
COUNTER = (
    "import sys\n\n"
    "def pytest_unconfigure(config):\n"
    "    with open('modules.txt', 'w') as f:\n"
    "        f.write(str(len(sys.modules)))\n"
)


def one(project: Path, extra: list[str], env: dict) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *extra, "test_theirs.py"], cwd=project, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"pytest failed ({' '.join(extra)}):\n{proc.stdout}{proc.stderr}")
    return elapsed, int((project / "modules.txt").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--plugin-from", type=Path, metavar="DIR",
                        help="load lstm_conformance.plugin from this directory instead")
    options = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    with_plugin: list[str] = []
    if options.plugin_from:
        env["PYTHONPATH"] = str(options.plugin_from.resolve())
        with_plugin = ["-p", "no:lstm_conformance", "-p", "lstm_conformance.plugin"]
    variants = {"with the plugin": with_plugin, "without (-p no:lstm_conformance)":
                ["-p", "no:lstm_conformance"]}
    times: dict[str, list[float]] = {name: [] for name in variants}
    modules: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "test_theirs.py").write_text(TEST)
        (project / "conftest.py").write_text(COUNTER)
        for extra in variants.values():  # a warm-up each: disk caches, .pyc files
            one(project, extra, env)
        for _ in range(options.repeat):
            for name, extra in variants.items():
                elapsed, modules[name] = one(project, extra, env)
                times[name].append(elapsed)
    print(f"{platform.node()}: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'session':36} {'median s':>9} {'min s':>7} {'max s':>7} {'modules':>8}")
    for name, got in times.items():
        print(f"{name:36} {statistics.median(got):9.2f} {min(got):7.2f} {max(got):7.2f} "
              f"{modules[name]:8d}")


if __name__ == "__main__":
    main()
