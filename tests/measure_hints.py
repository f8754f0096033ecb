"""How often the report's top hint names the class of a seeded defect, measured.

Runs every invariant on every seeded defect (``tests/defects``) as a conformance run
would, builds each defect's results entry, and compares the top hint's rule
(``conformance.hints``) with the defect's declared class (``hint``). Prints a Markdown
table and the share of defects whose top hint is right; from the repository root::

    python -m tests.measure_hints --profile default --seed 0 > hints.md
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch
from hypothesis import settings

from conformance.hints import evidence, hint_rule
from conformance.profiles import profile_settings
from conformance.results import Collector
from conformance.runner import run_check
from spec.harness import Subject
from spec.invariants import INVARIANTS
from tests.defects import DEFECTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evidence", metavar="FILE", default=None,
                        help="also write each defect's evidence (failed and checked names) "
                             "as JSON, to try rules against without running again")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    config = settings(profile_settings(args.profile), database=None)
    start, right, rows, dump = time.perf_counter(), 0, [], {}
    for defect in DEFECTS:
        collector = Collector(args.profile, args.seed, {}, [])
        collector.implementation(defect.__name__)
        for invariant in INVARIANTS:
            with torch.random.fork_rng():
                torch.manual_seed(args.seed)
                outcome = run_check(Subject(defect.__name__, defect), invariant, config,
                                    args.seed, explore=False)
            collector.record(defect.__name__, invariant.id, outcome.as_dict())
        entry = collector.document()["implementations"][defect.__name__]
        failed, checked = evidence(entry)
        dump[defect.__name__] = {"hint": defect.hint, "failed": sorted(failed),
                                 "checked": sorted(checked)}
        rule = hint_rule(failed, checked) if failed else None
        got = rule.id if rule else "(none)"
        right += got == defect.hint
        rows.append(f"| {defect.__name__} | {defect.hint} | {got} | "
                    f"{'yes' if got == defect.hint else 'no'} |")
    print(f"{len(DEFECTS)} seeded defects, every invariant, {args.profile} profile, seed "
          f"{args.seed}, torch {torch.__version__}, {time.perf_counter() - start:.0f} s")
    print()
    print("| defect | declared class | top hint | right |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(f"Top hint right for {right} of {len(DEFECTS)} defects "
          f"({100 * right / len(DEFECTS):.0f} %).")
    if args.evidence:
        with open(args.evidence, "w") as fh:
            json.dump(dump, fh, indent=1)


if __name__ == "__main__":
    main()
