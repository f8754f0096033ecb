"""How often the report's likely cause names the class of a seeded defect, measured.

Runs every invariant on every seeded defect of one part (``tests/defects``) as a
conformance run would, takes the evidence of all its failures (``conformance.hints``)
and compares the likely cause with the defect's declared class (``hint``). Two parts:
``tuning`` (``DEFECTS``, the defects the rules were written and tuned against) and
``heldout`` (``HELDOUT_DEFECTS``, written before the rules and never tuned on). Prints a
Markdown table and the share of defects whose likely cause is right, wrong, or absent
(the report then says what the evidence shows in plain words); from the repository root::

    python -m tests.measure_hints --part heldout --profile quick --seed 0

``--save FILE`` keeps every defect's results entry (failures, counterexamples, tensors) so
that rules can be tried again without running anything: ``--load FILE``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch


def run_part(defects, profile: str, seed: int) -> dict[str, dict]:
    """Each defect's results entry: every invariant, checked as a quick conformance run."""
    from hypothesis import settings

    from lstm_conformance.profiles import invariants_for, profile_settings
    from lstm_conformance.runner import run_check
    from lstm_conformance.spec.harness import Subject

    config = settings(profile_settings(profile), database=None)
    entries = {}
    for defect in defects:
        results = {}
        for invariant in invariants_for(profile):
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                outcome = run_check(Subject(defect.__name__, defect), invariant, config, seed,
                                    explore=False)
            result = outcome.as_dict()
            result.pop("ratios", None)
            results[invariant.id] = result
        entries[defect.__name__] = {"hint": defect.hint, "results": results}
    return entries


def diagnose(name: str, saved: dict) -> tuple[dict | None, str]:
    """The likely cause of one defect's failures, and the evidence in words.

    The checks run without the search for conditions (``explore=False``: it would take
    hours), and root causes are grouped by condition, so here every failure of the defect
    is taken as one root cause: this measures the likely cause, not the grouping."""
    from lstm_conformance.hints import checked_names, evidence_of, likely_cause
    from lstm_conformance.spec.vocabulary import Status

    entry = json.loads(json.dumps({"results": saved["results"]}))
    failures = [(i, f) for i, r in entry["results"].items() if Status(r["status"]).is_bad
                for f in r.get("failures") or [r]]
    if not failures:
        return None, ""
    whole = evidence_of(failures, rebuild=False)
    everything = set(whole.names) | ({"near-miss"} if whole.near_miss else set())
    ev = evidence_of(failures)
    return likely_cause(ev, checked_names(entry), everything) or {}, ev.summary()


def main() -> None:
    from tests.defects import DEFECTS, HELDOUT_DEFECTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("tuning", "heldout", "all"), default="heldout")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", metavar="FILE", help="write every defect's results entry")
    parser.add_argument("--load", metavar="FILE", help="measure saved entries, run nothing")
    parser.add_argument("--invariants-of", metavar="FILE",
                        help="keep only the invariants that FILE's saved entries ran (to "
                             "compare parts measured before and after invariants were added)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    if args.load:
        with open(args.load) as fh:
            entries = json.load(fh)
    else:
        defects = {"tuning": DEFECTS, "heldout": HELDOUT_DEFECTS,
                   "all": DEFECTS + HELDOUT_DEFECTS}[args.part]
        entries = run_part(defects, args.profile, args.seed)
        if args.save:
            with open(args.save, "w") as fh:
                json.dump(entries, fh)
    if args.invariants_of:
        with open(args.invariants_of) as fh:
            kept = set(next(iter(json.load(fh).values()))["results"])
        for saved in entries.values():
            saved["results"] = {i: r for i, r in saved["results"].items() if i in kept}
    counts = {"right": 0, "wrong": 0, "none": 0, "not caught": 0}
    rows = []
    for name, saved in entries.items():
        likely, summary = diagnose(name, saved)
        got = likely["id"] if likely else "(none)"
        if likely is None:
            outcome = "not caught"
        elif not likely:
            outcome = "none"
        else:
            outcome = "right" if got == saved["hint"] else "wrong"
        counts[outcome] += 1
        said = likely["text"] if likely else summary
        rows.append(f"| {name} | {saved['hint']} | {got} | {outcome} | {said[:140]} |")
    n = len(entries)
    source = f"saved entries {args.load}" if args.load else (
        f"part {args.part}, {args.profile} profile, seed {args.seed}")
    print(f"{n} seeded defects, every invariant, {source}, torch {torch.__version__}, "
          f"{time.perf_counter() - start:.0f} s")
    print()
    print("| defect | declared class | likely cause | outcome | text (or the evidence) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(f"Likely cause right for {counts['right']} of {n} defects "
          f"({100 * counts['right'] / max(n, 1):.0f} %); wrong class {counts['wrong']}, no "
          f"class named (evidence in plain words) {counts['none']}, not caught "
          f"{counts['not caught']}.")


if __name__ == "__main__":
    main()
