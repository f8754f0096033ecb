"""The ``lstm-conformance`` console script.

``lstm-conformance list`` lists the registered implementations; ``lstm-conformance run
[PYTEST OPTIONS]`` is ``pytest conformance [PYTEST OPTIONS]`` from the installed package.
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
    if command == "run":
        import pytest

        here = Path(__file__).parent
        return int(pytest.main([str(here / "test_conformance.py"), *argv]))
    print(__doc__.strip())
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
