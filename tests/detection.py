"""Detection across run seeds: how often a run catches each seeded defect, and how soon.

For each defect of ``tests/defects`` (the held-out ones of the hint measurement too) and
each run seed, the checks its declaration names
(``catches``) run as ``pytest conformance`` runs them at the chosen profile (that seed for
hypothesis and for torch's generator, decisive cases included, no example database),
without shrinking, which a verdict does not need. A run that fails (or errs on) any of
them judges the defect non-conformant; since a full run has more checks, the fraction is
a lower bound of what a full run would show. ``examples`` counts the examples run up to
and including the first failing one, over the declared checks in order.

From the repository root (it writes a Markdown report to stdout)::

    python -m tests.detection --profile default --seeds 10 --jobs 2 > detection.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor


def _one_run(defect_name: str, profile: str, seed: int) -> tuple[bool, int, str | None]:
    """(caught, examples to the first failure or all examples run, the check that caught)."""
    import torch
    from hypothesis import Phase

    from lstm_conformance.profiles import profile_settings
    from lstm_conformance.runner import run_check
    from lstm_conformance.spec.harness import Subject
    from lstm_conformance.spec.invariants import by_id
    from tests import defects

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    defect = getattr(defects, defect_name)
    settings = profile_settings(profile)
    settings = type(settings)(settings, phases=(Phase.explicit, Phase.generate), database=None)
    examples = 0
    for invariant_id in defect.catches:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            outcome = run_check(Subject(defect_name, defect), by_id(invariant_id), settings, seed,
                                explore=False)
        examples += outcome.examples
        if outcome.status in ("failed", "error"):
            return True, examples, invariant_id
    return False, examples, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seeds", type=int, default=10, help="run seeds 0..N-1")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--defects", nargs="+", metavar="NAME",
                        help="only these defects (class names); default: every one")
    args = parser.parse_args()

    from tests.defects import DEFECTS, HELDOUT_DEFECTS

    everyone = DEFECTS + tuple(d for d in HELDOUT_DEFECTS if getattr(d, "catches", None))
    chosen = [d for d in everyone if not args.defects or d.__name__ in args.defects]
    start = time.perf_counter()
    tasks = [(d.__name__, args.profile, seed) for d in chosen for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(_one_run, *zip(*tasks, strict=True)))
    by_defect = {d.__name__: results[i * args.seeds:(i + 1) * args.seeds]
                 for i, d in enumerate(chosen)}

    print(f"Profile `{args.profile}`, run seeds 0..{args.seeds - 1}, {len(chosen)} defects; "
          f"{time.perf_counter() - start:.0f} s with {args.jobs} processes.")
    print()
    print("| defect | declared catchers | caught | examples to first failure: median / worst "
          "| caught by |")
    print("|---|---|---|---|---|")
    rates = {}
    for defect in chosen:
        runs = by_defect[defect.__name__]
        caught = [r for r in runs if r[0]]
        rates[defect.__name__] = len(caught) / len(runs)
        examples = [r[1] for r in caught]
        first = (f"{statistics.median(examples):g} / {max(examples)}" if examples else "-")
        by = sorted({r[2] for r in caught})
        print(f"| {defect.__name__} | {', '.join(defect.catches)} | {len(caught)}/{len(runs)} "
              f"({100 * rates[defect.__name__]:.0f} %) | {first} | {', '.join(by) or '-'} |")
    print()
    weakest = min(rates.values())
    below = sorted(name for name, rate in rates.items() if rate < 0.95)
    print(f"Every defect caught in at least {100 * weakest:.0f} % of runs; "
          f"below 95 %: {', '.join(below) if below else 'none'}.")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
