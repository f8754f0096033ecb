"""Root causes as a run reads them, per seeded defect: with the condition search.

``tests.measure_hints`` runs the checks without the search for conditions, so it measures
the likely cause of all of a defect's failures taken together, not how a run groups them.
This runs every invariant of the quick profile on each held-out defect and each combined
one (two bugs) with the search, the conditions one check learns shared with the others as
a run shares them, and prints each defect's root causes: how many, their conditions, and
their likely causes. A defect of one slip should read as one cause, a combined one as two.
From the repository root::

    python -m tests.measure_root_causes --seed 0 [--save FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def root_causes_of(defect: type, seed: int) -> dict:
    """The results entry a quick run gives ``defect``, root causes included."""
    from hypothesis import settings

    from lstm_conformance.profiles import invariants_for, profile_settings
    from lstm_conformance.results import Collector
    from lstm_conformance.runner import run_check
    from lstm_conformance.spec.harness import Subject

    config = settings(profile_settings("quick"), database=None)
    collector = Collector("quick", seed, {"impl": None, "keyword": None}, [])
    collector.implementation(defect.__name__)
    learned: dict = {}  # as a run shares them between checks
    for invariant in invariants_for("quick"):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            outcome = run_check(Subject(defect.__name__, defect), invariant, config, seed,
                                conditions=learned)
        collector.record(defect.__name__, invariant.id, outcome.as_dict())
    return collector.document()["implementations"][defect.__name__]


def main() -> None:
    from tests.defects import HELDOUT_DEFECTS
    from tests.defects.combined import DeepBidirectionalAndFloat64, LoudProjectionQuietPacked

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write every defect's results entry here")
    args = parser.parse_args()
    entries = {}
    for defect in (*HELDOUT_DEFECTS, LoudProjectionQuietPacked, DeepBidirectionalAndFloat64):
        start = time.perf_counter()
        entry = entries[defect.__name__] = root_causes_of(defect, args.seed)
        causes = entry["root_causes"]
        print(f"{defect.__name__} (declared {getattr(defect, 'hint', None)}): "
              f"{len(causes)} root causes, {time.perf_counter() - start:.0f} s", flush=True)
        for cause in causes:
            print(f"    {len(cause['checks'])} checks {cause['condition']}: "
                  f"{(cause['likely_cause'] or {}).get('id')}", flush=True)
    total = sum(len(e["root_causes"]) for e in entries.values())
    print(f"{total} root causes for {len(entries)} defects")
    if args.save:
        with open(args.save, "w") as f:
            json.dump(entries, f, default=str)


if __name__ == "__main__":
    main()
