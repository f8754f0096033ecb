"""Measure how close the built-in implementations come to the float64 oracle.

Draws cases from ``spec.strategies.cases`` (every form, weight and input scale; the dtypes
and sizes chosen), runs each built-in and records, per implementation, dtype and input
scale, the largest |diff| against the oracle and the largest |diff| / allowed under
``spec.tolerance`` (magnitude scaling included). The figures back docs/TOLERANCES.md::

    python tools/measure_tolerances.py --examples 1500 --seed 1
    python tools/measure_tolerances.py --examples 300 --seed 1 --large
    python tools/measure_tolerances.py --examples 600 --seed 1 --dtypes float16 bfloat16

``--large`` draws sizes past block boundaries (one of hidden size, input size, sequence
length or batch large, as the block-boundaries invariant does).
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed

from lstm_conformance.discovery import load, registered
from lstm_conformance.spec import tolerance
from lstm_conformance.spec.invariants.common import oracle
from lstm_conformance.spec.strategies import DTYPES, Draws, cases

BUILT_INS = ("torch-lstm", "cell-loop", "stacked", "numpy-reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=sorted(DTYPES))
    parser.add_argument("--large", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    subjects = {name: load(registered()[name])[0] for name in BUILT_INS}
    worst: dict = defaultdict(lambda: [0.0, 0.0, 0])  # max |diff|, max ratio, cases
    draws = Draws(dtypes=tuple(args.dtypes), large=args.large)

    @hypothesis_seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cases(draws=draws))
    def measure(case):
        expected = oracle(case)
        tol = tolerance.accuracy(case.dtype, case.magnitude)
        for name, subject in subjects.items():
            if case.dtype_name in subject.unsupported:
                continue
            r = subject.run(case)
            key = (name, case.dtype_name, case.input_scale)
            w = worst[key]
            for got, want in zip(r.triple, expected, strict=True):
                if not got.numel():
                    continue
                diff = (got.double() - want).abs()
                allowed = tol.atol + tol.rtol * want.abs()
                w[0] = max(w[0], float(diff.max()))
                w[1] = max(w[1], float((diff / allowed).max()))
            w[2] += 1

    measure()
    print(f"{args.examples} drawn cases ({', '.join(args.dtypes)}"
          f"{', past block boundaries' if args.large else ''}), seed {args.seed}, "
          f"torch {torch.__version__}")
    print()
    print("| implementation | dtype | inputs | cases | max abs diff | max diff / allowed |")
    print("|---|---|---|---|---|---|")
    for (name, dtype, scale), (diff, ratio, n) in sorted(worst.items()):
        print(f"| {name} | {dtype} | {scale} | {n} | {diff:.2e} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
