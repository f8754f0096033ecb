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

A third part, ``examples``, is real implementations: the adapters of ``examples/``, whose
differences from nn.LSTM are known from standalone reproductions (each adapter's
``tests/test_findings.py``). It runs nothing: it reads the adapters' conformance reports
(``tox -m adapters`` writes ``reports/<env>/results.json``), counts their declared known
failures as failures, groups them into root causes as the report does and compares each
root cause's likely cause with the class of the finding behind its checks::

    python -m tests.measure_hints --part examples --reports reports
"""

from __future__ import annotations

import argparse
import copy
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


#: The real implementations' known differences, from their reproductions: implementation
#: -> (words of a check's declared known-failure reason, or None for a check declared
#: nothing) -> the class (hint id) of that difference.
REAL_CAUSES: dict[str, dict[str | None, str]] = {
    # examples/mlx-lstm/tests/test_findings.py: mx.exp and mx.sigmoid of float64 are
    # float32 approximations
    "mlx": {"float32-accurate": "precision"},
    # examples/keras-lstm/tests/test_findings.py: keras.ops demotes float64 to float32
    "keras-jax": {"float32-accurate": "precision"},
    "keras-torch": {"float32-accurate": "precision"},
    # examples/onnx-reference-lstm/tests/test_findings.py: sequence_lens is never read
    "onnx-reference": {"sequence_lens": "packed"},
    # examples/openvino-lstm/tests/test_findings.py: float32 run in bf16 by default; with
    # f32, sequence_lens not honoured and float64 computed in float32
    "openvino": {None: "precision"},
    "openvino-f32": {"sequence_lens": "packed", "float32-accurate": "precision",
                     "float32": "precision"},
    # examples/torch-transforms/tests/test_findings.py: the interpreter's exception types,
    # and parameters kept from when the module was scripted or exported
    "torchscript": {"jit.Error": "input-validation", "ValueError": "input-validation",
                    "Parameter": "parameter-identity", "re-exports": "parameter-identity"},
    "torch-export": {"ValueError": "input-validation", "Parameter": "parameter-identity",
                     "re-exports": "parameter-identity"},
    # the same file: a TypeError on every float32 call whose input needs no grad, SIGFPE
    # on an empty batch and dynamo's Unsupported for nn.LSTM's ValueError; the exporter's
    # wrapped ValueError, ONNX Runtime's abort on an empty batch, and the adapter's eager
    # twin (first match wins: the empty batch's reason names mkldnn_rnn_layer too)
    "torch-compile": {"SIGFPE": "empty-batch", "Unsupported": "input-validation",
                      "mkldnn_rnn_layer": "unsupported-feature"},
    # examples/quantized-lstm/tests/test_structural.py: the activation scale comes from the
    # min/max of the whole call's input (all steps, all batch elements), so one element
    # moves the rounding of every other; added after the rules of 2026-12-03, not tuned on
    "dynamic-int8": {None: "batch-mixing"},
    "onnx-export": {"TorchExportError": "input-validation", "SIGABRT": "empty-batch",
                    "nn.Parameter": "parameter-identity"},
}


def real_root_causes(reports: str) -> list[tuple[str, dict, str | None]]:
    """(implementation, root cause, true class) for every root cause of a real
    implementation with known differences, its known failures counted as failures."""
    from pathlib import Path

    from lstm_conformance.results import root_causes

    found = []
    for path in sorted(Path(reports).glob("*/results.json")):
        document = json.loads(path.read_text())
        for name, entry in document["implementations"].items():
            truth = REAL_CAUSES.get(name)
            if truth is None:
                continue
            entry = copy.deepcopy(entry)  # its statuses are rewritten below
            reasons = {}
            for invariant, result in entry["results"].items():
                if result["status"] == "known_failure":
                    result["status"] = "failed"
                    reasons[invariant] = result.get("known_failure_reason") or ""
            for cause in root_causes(entry):
                classes = [_true_class(truth, reasons.get(check)) for check in cause["checks"]]
                classes = [c for c in classes if c is not None]
                expected = max(set(classes), key=classes.count) if classes else None
                found.append((name, cause, expected))
    return found


def _true_class(truth: dict[str | None, str], reason: str | None) -> str | None:
    if reason is None:
        return truth.get(None)
    return next((cls for words, cls in truth.items() if words and words in reason), None)


def measure_examples(reports: str) -> None:
    counts = {"right": 0, "wrong": 0, "none": 0, "unexplained": 0}
    print(f"Real implementations' root causes, from {reports}/*/results.json, "
          f"torch {torch.__version__}")
    print()
    print("| implementation | root cause (checks; condition) | true class | likely cause "
          "| outcome |")
    print("|---|---|---|---|---|")
    for name, cause, expected in real_root_causes(reports):
        likely = cause.get("likely_cause") or {}
        got = likely.get("id") or "(none)"
        if expected is None:
            outcome = "unexplained"  # a difference no reproduction accounts for
        elif not likely:
            outcome = "none"
        else:
            outcome = "right" if got == expected else "wrong"
        counts[outcome] += 1
        checks = ", ".join(cause["checks"][:4]) + (" …" if len(cause["checks"]) > 4 else "")
        print(f"| {name} | {checks}; {cause.get('condition') or '–'} | {expected} | {got} "
              f"| {outcome} |")
    n = sum(counts.values())
    print()
    print(f"Likely cause right for {counts['right']} of {n} root causes "
          f"({100 * counts['right'] / max(n, 1):.0f} %); wrong class {counts['wrong']}, no "
          f"class named {counts['none']}, not explained by a known finding "
          f"{counts['unexplained']}.")


def main() -> None:
    from tests.defects import DEFECTS, HELDOUT_DEFECTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("tuning", "heldout", "all", "examples"),
                        default="heldout")
    parser.add_argument("--reports", default="reports",
                        help="for --part examples: the adapters' report directories")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", metavar="FILE", help="write every defect's results entry")
    parser.add_argument("--load", metavar="FILE", help="measure saved entries, run nothing")
    parser.add_argument("--invariants-of", metavar="FILE",
                        help="keep only the invariants that FILE's saved entries ran (to "
                             "compare parts measured before and after invariants were added)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.part == "examples":
        measure_examples(args.reports)
        return
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
