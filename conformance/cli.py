"""The ``lstm-conformance`` command: ``list``, ``run`` and ``report``.

``run`` is ``pytest`` on the installed conformance checks, from any directory: the report
goes to ``./reports`` of the working directory unless ``--lstm-report-dir`` says
otherwise, and the exit status is the verdict (0 exactly when every selected
implementation is conformant). Options it does not know go to pytest unchanged.

Errors that need no torch answer without it: this module imports only the standard
library, and a usage error, ``--version`` or a missing report never import pytest, torch
or the specification.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROFILES = ("quick", "default", "thorough", "ci", "stress")
TF32_CHOICES = ("torch-default", "on", "off")
DISTRIBUTION = "lstm-conformance"


def version() -> str:
    """The installed distribution's version ("unknown" when run from a tree not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm-conformance",
        description="Check LSTM implementations against torch.nn.LSTM, invariant by invariant.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("list", help="list the registered implementations and what they support",
                        description="List the implementations registered in the "
                        "'lstm_conformance.implementations' entry-point group.")
    run = commands.add_parser(
        "run", help="run the conformance checks (pytest options are passed through)",
        description="Run the conformance checks. Options not listed here go to pytest "
        "(for example -k 'cell-loop:gradients', -x, -n 0).")
    run.add_argument("--lstm-impl", action="append", metavar="NAME",
                     help="check only this implementation (repeatable; default: all)")
    run.add_argument("--lstm-profile", choices=PROFILES, default="default",
                     help="hypothesis effort (default: %(default)s; ci is derandomized; "
                          "stress runs only the production-size checks)")
    run.add_argument("--lstm-device", default="cpu", metavar="DEVICE",
                     help="the torch device the implementations run on (cpu, cuda, cuda:1, "
                          "mps, ...; default: %(default)s); cases are made and judged on the CPU")
    run.add_argument("--lstm-tf32", choices=TF32_CHOICES, default="torch-default",
                     help="TF32 for float32 on CUDA (default: %(default)s, torch's own flags)")
    run.add_argument("--lstm-report-dir", metavar="DIR", default="reports",
                     help="where results.json, index.html and junit.xml go "
                          "(default: ./reports in the working directory)")
    run.add_argument("--lstm-exclude", action="append", metavar="FEATURE", default=[],
                     help="leave out cases that need this capability (repeatable)")
    report = commands.add_parser(
        "report", help="render index.html again from results.json",
        description="Render DIR/index.html again from DIR/results.json, with "
        "DIR/benchmark.json's rows when there is one.")
    report.add_argument("directory", nargs="?", default="reports", metavar="DIR",
                        help="the report directory (default: %(default)s)")
    return parser


def _run(options: argparse.Namespace, passthrough: list[str]) -> int:
    import pytest

    # the test module by its import name, not its file: pytest then looks for its
    # configuration from the working directory, as in any run of the user's, rather than
    # from wherever the suite is installed; the working directory is the rootdir
    args = ["--pyargs", "lstm_conformance.test_conformance", "-p", "no:cacheprovider",
            "--rootdir", str(Path.cwd()), "--lstm-profile", options.lstm_profile,
            "--lstm-report-dir", str(Path(options.lstm_report_dir).absolute())]
    for name in options.lstm_impl or []:
        args += ["--lstm-impl", name]
    for feature in options.lstm_exclude:
        args += ["--lstm-exclude", feature]
    args += ["--lstm-device", options.lstm_device, "--lstm-tf32", options.lstm_tf32]
    return int(pytest.main([*args, *passthrough]))


def _report(directory: Path) -> int:
    try:
        results = json.loads((directory / "results.json").read_text())
    except (OSError, ValueError) as exc:
        print(f"lstm-conformance report: cannot read {directory / 'results.json'}: {exc}. "
              "Run the conformance checks first (lstm-conformance run, or tox).", file=sys.stderr)
        return 2
    from lstm_conformance.benchmarks import rows_for
    from lstm_conformance.report import write_reports

    benchmarks = rows_for(directory)
    if benchmarks is not None:
        results["benchmarks"] = benchmarks
    write_reports(directory, results)
    print(f"report: {directory / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    options, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if options.command == "run":
        return _run(options, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if options.command == "list":
        from lstm_conformance.listing import listing

        print(listing())
        return 0
    return _report(Path(options.directory))


if __name__ == "__main__":
    sys.exit(main())
