"""The ``lstm-conformance`` console script.

``lstm-conformance list`` lists the registered implementations; ``lstm-conformance run
[PYTEST OPTIONS]`` is ``pytest conformance [PYTEST OPTIONS]`` from the installed package;
``lstm-conformance report [DIR]`` renders DIR/index.html (default reports/) again from
DIR/results.json, with DIR/benchmark.json's rows when there is one.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv else "help"
    if command == "list":
        from conformance.listing import listing

        print(listing())
        return 0
    if command == "report":
        import json

        from conformance.benchmarks import rows_for
        from conformance.report import write_reports

        directory = Path(argv[0] if argv else "reports")
        try:
            results = json.loads((directory / "results.json").read_text())
        except (OSError, ValueError) as exc:
            print(f"lstm-conformance report: cannot read {directory / 'results.json'}: {exc}. "
                  "Run the conformance suite first (tox).", file=sys.stderr)
            return 2
        benchmarks = rows_for(directory)
        if benchmarks is not None:
            results["benchmarks"] = benchmarks
        write_reports(directory, results)
        print(f"report: {directory / 'index.html'}")
        return 0
    if command == "run":
        import pytest

        here = Path(__file__).parent
        return int(pytest.main([str(here / "test_conformance.py"), *argv]))
    print(__doc__.strip())
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
