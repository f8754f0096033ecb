"""Measure how close the built-in implementations come to the float64 oracle.

Draws cases from ``spec.strategies.cases`` (every form, dtype, weight and input scale),
runs each built-in and records the largest |diff| against the oracle per implementation,
dtype and input scale, and the largest |diff| / allowed ratio under ``spec.tolerance``.
The figures back docs/TOLERANCES.md:

    python tools/measure_tolerances.py --examples 2000 --seed 0
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed

from conformance.discovery import load, registered
from spec import tolerance
from spec.invariants import oracle
from spec.strategies import cases

BUILT_INS = ("torch-lstm", "cell-loop", "stacked", "numpy-reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    subjects = {name: load(registered()[name])[0] for name in BUILT_INS}
    worst: dict = defaultdict(lambda: [0.0, 0.0, 0])  # max |diff|, max ratio, cases

    @hypothesis_seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def measure(case):
        expected = oracle(case)
        tol = tolerance.forward(case.dtype, case.magnitude)
        for name, subject in subjects.items():
            r = subject.run(case)
            for got, want in zip((r.output, r.h_n, r.c_n), expected, strict=True):
                diff = (got.double() - want).abs()
                allowed = tol.atol + tol.rtol * want.abs()
                key = (name, str(case.dtype)[6:], case.input_scale)
                w = worst[key]
                w[0] = max(w[0], float(diff.max()) if diff.numel() else 0.0)
                w[1] = max(w[1], float((diff / allowed).max()) if diff.numel() else 0.0)
            worst[key][2] += 1

    measure()
    print(f"{args.examples} drawn cases, seed {args.seed}, torch {torch.__version__}")
    print("| implementation | dtype | inputs | cases | max abs diff | max diff / allowed |")
    print("|---|---|---|---|---|---|")
    for (name, dtype, scale), (diff, ratio, n) in sorted(worst.items()):
        print(f"| {name} | {dtype} | {scale} | {n} | {diff:.2e} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
