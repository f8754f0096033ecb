"""Time to first failure: how many examples, and seconds, the default profile needs to
catch each seeded defect (``tests/defects``), by each invariant expected to catch it.

Shrinking is switched off, so ``examples`` counts the examples run up to and including
the first failing one, and ``seconds`` is the time to it. Prints a Markdown table:

    python tools/time_to_failure.py --seed 0 > /tmp/ttf.md
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
from hypothesis import Phase

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.profiles import profile_settings  # noqa: E402
from conformance.runner import run_check  # noqa: E402
from spec.harness import Subject  # noqa: E402
from spec.invariants import by_id  # noqa: E402
from tests.test_seeded_defects import EXPECTED  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    settings = profile_settings("default")
    settings = type(settings)(settings, phases=(Phase.explicit, Phase.generate), database=None)
    print(f"default profile ({settings.max_examples} examples), seed {args.seed}, no shrinking, "
          f"torch {torch.__version__}")
    print()
    print("| defect | invariant | verdict | examples to first failure | seconds |")
    print("|---|---|---|---|---|")
    for defect, catchers in EXPECTED.items():
        for invariant_id in catchers:
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            outcome = run_check(Subject(defect.__name__, defect), by_id(invariant_id),
                                settings, args.seed, core_only=True)
            seconds = time.perf_counter() - start
            print(f"| {defect.__name__} | {invariant_id} | {outcome.status} | "
                  f"{outcome.examples} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
