"""Time to first failure: how many examples, and seconds, the default profile needs to
catch each seeded defect (``tests/defects``), by each invariant its declaration names.

Shrinking is switched off, so ``examples`` counts the examples run up to and including
the first failing one, and ``seconds`` is the time to it. Prints a Markdown table; from
the repository root::

    python -m tests.time_to_failure --seed 0 > ttf.md
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from hypothesis import Phase

from lstm_conformance.profiles import profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id
from tests.defects import DEFECTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--defects", nargs="+", metavar="NAME",
                        help="only these defects (class names); default: every one")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    settings = profile_settings("default")
    settings = type(settings)(settings, phases=(Phase.explicit, Phase.generate), database=None)
    print(f"default profile ({settings.max_examples} examples), seed {args.seed}, no shrinking, "
          f"torch {torch.__version__}")
    print()
    print("| defect | invariant | verdict | examples to first failure | seconds |")
    print("|---|---|---|---|---|")
    for defect in DEFECTS:
        if args.defects and defect.__name__ not in args.defects:
            continue
        for invariant_id in defect.catches:
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            outcome = run_check(Subject(defect.__name__, defect), by_id(invariant_id),
                                settings, args.seed, explore=False)
            seconds = time.perf_counter() - start
            print(f"| {defect.__name__} | {invariant_id} | {outcome.status} | "
                  f"{outcome.examples} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
