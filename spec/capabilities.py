"""Capabilities: the parts of nn.LSTM's surface an implementation may declare it lacks.

An implementation that lacks a capability is never given a case that needs it; invariants
that cannot be checked at all without it are *not applicable* for that implementation.
Declaring a gap is honest; claiming a capability and then failing it is non-conformant.

An implementation declares its gaps with a class (or object) attribute::

    class MyLSTM(nn.Module):
        lstm_conformance_unsupported = frozenset({"packed", "proj_size"})
"""

from __future__ import annotations

from collections.abc import Iterable

#: Every capability, with what a case that needs it does.
FEATURES: dict[str, str] = {
    "multi_layer": "num_layers > 1",
    "bidirectional": "bidirectional=True",
    "proj_size": "proj_size > 0 (LSTM with projections)",
    "no_bias": "bias=False",
    "batch_first": "batch_first=True",
    "unbatched": "2-D (unbatched) input and hx",
    "packed": "PackedSequence input",
    "initial_state": "an explicit (h0, c0)",
    "dropout": "dropout > 0 between layers in training mode",
    "autograd": "gradients through torch.autograd",
    "float32": "float32 weights and input",
    "float64": "float64 weights and input",
    "float16": "float16 (half precision) weights and input",
    "bfloat16": "bfloat16 weights and input",
    "input_validation": "raising nn.LSTM's exception types for malformed input",
    "strided": "input and state as non-contiguous views (transposed, sliced, strided, "
               "expanded)",
    "no_grad": "calls under torch.no_grad() or torch.inference_mode()",
    "frozen_weights": "parameters with requires_grad=False (some or all)",
    "seeded_dropout": "dropout masks drawn from torch's generator (the same after "
                      "torch.manual_seed)",
}

#: Conditions that are no capability (nothing to declare, no case is drawn without them)
#: but that a replay of a failing case can show: the condition search adds one when the
#: shrunk case passes with it taken away (an explicit zero (h0, c0) for hx=None, dropout=0
#: in eval mode). They point at one code path of an implementation: its own default state,
#: its dropout's training flag.
REPLAYED: dict[str, str] = {
    "default_state": "no (h0, c0) is passed (hx=None)",
    "eval_dropout": "dropout > 0 in eval mode",
}


def describe_condition(features: Iterable[str]) -> str:
    """``"when bidirectional=True and num_layers > 1"`` for {bidirectional, multi_layer}."""
    if not features:
        return "on every kind of case tried"
    words = {**FEATURES, **REPLAYED}
    return "when " + " and ".join(words.get(f, f) for f in sorted(features))


#: What "core" conformance leaves out: core is one unidirectional layer on dense input,
#: called as a training loop calls it.
BEYOND_CORE = frozenset({"multi_layer", "bidirectional", "proj_size", "unbatched", "packed",
                         "dropout", "strided", "no_grad", "frozen_weights", "seeded_dropout"})

#: The attribute an implementation sets to declare what it does not support.
UNSUPPORTED_ATTRIBUTE = "lstm_conformance_unsupported"


def declared_unsupported(target: object) -> frozenset[str]:
    """The capabilities ``target`` declares it lacks; unknown names are an error."""
    names = frozenset(getattr(target, UNSUPPORTED_ATTRIBUTE, ()) or ())
    unknown = sorted(names - FEATURES.keys())
    if unknown:
        raise ValueError(
            f"{UNSUPPORTED_ATTRIBUTE} names unknown capabilities {unknown}; "
            f"known: {sorted(FEATURES)}"
        )
    return names


def supported(unsupported: Iterable[str]) -> frozenset[str]:
    """The complement of a declared gap set."""
    return frozenset(FEATURES) - frozenset(unsupported)
