"""Measure nn.LSTM's float32 error against the float64 oracle under each precision policy.

A device may compute float32 with less than float32's precision: TF32 on CUDA
(``torch.backends.cuda.matmul.allow_tf32``, ``torch.backends.cudnn.allow_tf32``), or
``torch.autocast`` in float16 or bfloat16. What nn.LSTM itself does under each is the
reference for what a kernel may do there. For each policy this draws float32 cases (every
form, weight and input scale, small sizes and the block-boundary sizes), runs
``torch.nn.LSTM`` on ``--device`` under the policy and records the largest |diff| against
the oracle and the largest |diff| / allowed under the suite's float32 tolerance
(``spec.tolerance.accuracy``: above 1 the suite would call nn.LSTM itself wrong); under
autocast also against the tolerance of the dtype it computes in (``computed_ratio``)::

    python tools/measure_precision.py --device cpu --examples 300
    python tools/measure_precision.py --device cuda --examples 300 --json $OUT/precision.json

Policies a device cannot run (TF32 off the GPU, autocast in float16 on the CPU, which
oneDNN refuses for LSTM in torch 2.13) are reported as such, with the error. The figures
back docs/TOLERANCES.md ("Precision policies").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed

from lstm_conformance.spec import tolerance
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants.common import oracle
from lstm_conformance.spec.strategies import Draws, cases

#: (name, needs CUDA, the dtype it computes in, the context it runs nn.LSTM under).
POLICIES = (
    ("float32, TF32 off", False, torch.float32, lambda device: _tf32(False)),
    ("float32, TF32 on (matmul and cuDNN)", True, torch.float32, lambda device: _tf32(True)),
    ("autocast bfloat16", False, torch.bfloat16,
     lambda device: torch.autocast(device.type, dtype=torch.bfloat16)),
    ("autocast float16", False, torch.float16,
     lambda device: torch.autocast(device.type, dtype=torch.float16)),
)


@contextlib.contextmanager
def _tf32(on: bool):
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def measure(device: torch.device, policy, computed: torch.dtype, examples: int, seed: int,
            large: bool) -> dict:
    subject = Subject("torch.nn.LSTM", torch.nn.LSTM, device=device)
    found = {"cases": 0, "max_abs_diff": 0.0, "max_ratio": 0.0, "computed_ratio": 0.0,
             "worst_case": None}
    draws = Draws(dtypes=("float32",), large=large, max_layers=2,
                  grad_modes=("no_grad",), layouts=("dense",), frozen=("none",))

    @settings(max_examples=examples, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(cases(draws=draws))
    def one(case):
        with policy(device):
            got = subject.run(case).triple
        allowed = tolerance.accuracy(case.dtype, case.magnitude, case.seq_len)
        own = tolerance.accuracy(computed, case.magnitude, case.seq_len)
        for a, e in zip(got, oracle(case), strict=True):
            diff = (a.detach().double() - e).abs()
            ratio = float((diff / (allowed.atol + allowed.rtol * e.abs())).max())
            found["computed_ratio"] = max(found["computed_ratio"],
                                          float((diff / (own.atol + own.rtol * e.abs())).max()))
            found["max_abs_diff"] = max(found["max_abs_diff"], float(diff.max()))
            if ratio > found["max_ratio"]:
                found["max_ratio"], found["worst_case"] = ratio, case.describe()
        found["cases"] += 1

    one()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    options = parser.parse_args()
    device = torch.device(options.device)
    rows = []
    for name, needs_cuda, computed, policy in POLICIES:
        for large in (False, True):
            row = {"policy": name, "sizes": "block boundaries" if large else "small",
                   "device": str(device)}
            if needs_cuda and device.type != "cuda":
                row["skipped"] = "TF32 exists on CUDA only"
            else:
                try:
                    row.update(measure(device, policy, computed, options.examples,
                                       options.seed, large))
                except Exception as exc:  # a policy the device cannot run
                    row["skipped"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            rows.append(row)
            print(f"{name:38s} {row['sizes']:17s} " + (
                f"skipped: {row['skipped']}" if "skipped" in row else
                f"{row['cases']:4d} cases  max |diff| {row['max_abs_diff']:.3g}  "
                f"max diff/allowed {row['max_ratio']:.3g} (float32), "
                f"{row['computed_ratio']:.3g} ({str(computed).removeprefix('torch.')})"),
                flush=True)
    if options.json:
        with open(options.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
