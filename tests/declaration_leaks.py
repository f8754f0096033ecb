"""Which checks still hand an implementation a capability it declares unsupported.

For each capability of ``spec.capabilities.FEATURES``, an ``nn.LSTM`` that declares only
that one unsupported runs every invariant of a profile (no condition search), and records
what each call it receives uses, as far as a forward pass can see it (dtype, layers,
directions, projections, bias, form, hx, dropout in training, non-contiguous tensors,
grad mode, frozen weights, inputs that require grad, malformed input). Prints every
(capability, check) pair where a call used the declared capability; from the repository
root::

    python -m tests.declaration_leaks --profile quick --seed 0

A declaration must mean that no such call is made. ``seeded_dropout`` cannot be seen from
a call and is never reported here.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

DTYPES = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64,
          "bfloat16": torch.bfloat16}


def capabilities_used(module: nn.LSTM, input, hx) -> set[str]:
    """The capabilities one call of ``module`` uses, as far as the call shows them."""
    packed = isinstance(input, PackedSequence)
    data = input.data if packed else input
    tensors = [data] + ([] if hx is None else list(hx))
    used = {name for name, dtype in DTYPES.items() if data.dtype == dtype}
    used |= {"multi_layer"} if module.num_layers > 1 else set()
    used |= {"bidirectional"} if module.bidirectional else set()
    used |= {"proj_size"} if module.proj_size else set()
    used |= {"no_bias"} if not module.bias else set()
    used |= {"packed"} if packed else set()
    used |= {"unbatched"} if not packed and data.dim() == 2 else set()
    used |= {"batch_first"} if module.batch_first and not packed and data.dim() == 3 else set()
    used |= {"initial_state"} if hx is not None else set()
    used |= {"dropout"} if module.training and module.dropout > 0 and module.num_layers > 1 \
        else set()
    used |= {"strided"} if any(not t.is_contiguous() for t in tensors) else set()
    used |= {"no_grad"} if not torch.is_grad_enabled() or torch.is_inference_mode_enabled() \
        else set()
    used |= {"frozen_weights"} if any(not p.requires_grad for p in module.parameters()) \
        else set()
    # an input that requires grad: an implementation without autograd (numpy inside) fails
    used |= {"autograd"} if torch.is_grad_enabled() and any(t.requires_grad for t in tensors) \
        else set()
    malformed = data.dim() not in (2, 3) or data.shape[-1] != module.input_size
    used |= {"input_validation"} if not packed and malformed else set()
    return used


def uses_by_check(unsupported: frozenset[str], profile: str,
                  seed: int) -> dict[str, list[set[str]]]:
    """Check id -> what each call of an ``nn.LSTM`` declaring ``unsupported`` received, over
    every invariant of ``profile`` at ``seed`` (no condition search)."""
    from hypothesis import settings

    from lstm_conformance.profiles import invariants_for, profile_settings
    from lstm_conformance.runner import run_check
    from lstm_conformance.spec.harness import Subject

    calls: list[set[str]] = []

    class Declares(nn.LSTM):
        lstm_conformance_unsupported = unsupported

        def forward(self, input, hx=None):
            calls.append(capabilities_used(self, input, hx))
            return super().forward(input, hx)

    uses = {}
    name = "declares-no-" + "-".join(sorted(unsupported)) if unsupported else "declares-nothing"
    for invariant in invariants_for(profile):
        calls.clear()
        run_check(Subject(name, Declares, unsupported), invariant,
                  settings(profile_settings(profile), database=None), seed, explore=False)
        uses[invariant.id] = list(calls)
    return uses


def leaks(capability: str, profile: str, seed: int) -> dict[str, int]:
    """Check id -> how many calls used ``capability`` although it was declared unsupported."""
    found = {}
    for check, calls in uses_by_check(frozenset({capability}), profile, seed).items():
        hits = sum(capability in used for used in calls)
        if hits:
            found[check] = hits
    return found


def main() -> None:
    from lstm_conformance.spec.capabilities import FEATURES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| capability declared unsupported | checks that still use it (calls) |")
    print("|---|---|")
    for capability in sorted(FEATURES):
        found = leaks(capability, args.profile, args.seed)
        said = ", ".join(f"`{check}` ({n})" for check, n in found.items()) or "none"
        print(f"| `{capability}` | {said} |")


if __name__ == "__main__":
    main()
