"""Measure how close nn.LSTM's float32 gradients come to the gradient tolerance.

Draws ``gradients-at-scale``'s own cases (float32; sizes past block boundaries, packed or
batched, with an initial state), takes nn.LSTM's gradients of the checks' random linear
loss and the float64 oracle's as the checks do (``gradients_and_oracle``), and prints the
largest |diff| / allowed for the gradients of layer 0's input weights (``weight_ih_l0``,
``_reverse``) and for all the others, split by the input's largest |x| (above 10:
saturating input). The figures back
docs/TOLERANCES.md, "Gradients of the input weights"::

    python tools/measure_gradient_tolerance.py --examples 1000 --seed 2
    python tools/measure_gradient_tolerance.py --examples 1000 --seed 2 --unscaled

``--unscaled`` judges the input weights' gradients by the plain ``gradient`` tolerance, as
before it grew with |x|.
"""

from __future__ import annotations

import argparse

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from torch import nn

from lstm_conformance.spec import tolerance
from lstm_conformance.spec.capabilities import FEATURES
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id
from lstm_conformance.spec.invariants.side_effects import gradients_and_oracle

SATURATING = 10.0  # an input whose largest |x| is above this is a saturating one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--unscaled", action="store_true")
    args = parser.parse_args()
    invariant = by_id("gradients-at-scale")
    supported = frozenset(FEATURES) - {"float64", "float16", "bfloat16"}
    subject = Subject("torch.nn.LSTM", nn.LSTM)
    worst: dict[tuple[str, bool], float] = {}

    @hypothesis_seed(args.seed)
    @settings(max_examples=args.examples, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(invariant.strategy(supported))
    def measure(drawn) -> None:
        case = drawn[0] if isinstance(drawn, tuple) else drawn
        within = tolerance.gradient(case.dtype, case.magnitude, case.seq_len)
        input_max = float(case.x.abs().max())
        for name, g, e in gradients_and_oracle(subject, case):
            input_weights = name.startswith("weight_ih_l0")
            allowed = within if args.unscaled or not input_weights \
                else tolerance.input_weight_gradient(within, input_max)
            ratio = float(((g.double() - e).abs() / (allowed.atol + allowed.rtol * e.abs()))
                          .max())
            key = ("weight_ih_l0" if input_weights else "other", input_max > SATURATING)
            worst[key] = max(worst.get(key, 0.0), ratio)

    measure()
    print("| gradients of | input | largest \\|diff\\| / allowed |")
    print("|---|---|---|")
    for (which, saturating), ratio in sorted(worst.items()):
        print(f"| {which} | {'saturating' if saturating else 'unit scale'} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
