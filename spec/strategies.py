"""Hypothesis strategies for configurations and cases.

Sizes are small so that a run is fast, but every corner that hides a real bug is
reachable: seq_len 1, batch 1, batch sizes that differ from both ``D*num_layers`` and
seq_len (shape checks cannot tell a transposed layout apart when they coincide), up to
three layers in both directions, projections, no bias, float32 and float64, weights from
tiny to large and inputs up to saturating (gate pre-activations in the hundreds: past
where exp(2z) overflows, z > 44 in float32 and z > 355 in float64), packed
batches with unsorted lengths including 1, and explicit or absent initial state.

Tensors are generated from a drawn seed rather than element by element: hypothesis
shrinks the sizes, the seed and the scales, which is what makes a counterexample small.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from hypothesis import event
from hypothesis import strategies as st

from spec.capabilities import FEATURES
from spec.case import FORMS, Case
from spec.config import LSTMConfig

#: Weight magnitude: multiples of nn.LSTM's own init bound 1/sqrt(hidden_size).
WEIGHT_SCALES = {"normal": 1.0, "tiny": 1e-3, "large": 3.0}
#: Input magnitude: standard normal, or scaled so that gate pre-activations reach past
#: where exp(2z) overflows. Per dtype: x100 keeps float32's rounding of pre-activations
#: within its tolerance (docs/TOLERANCES.md); float64 has room for x1000.
INPUT_SCALES = {"unit": {torch.float32: 1.0, torch.float64: 1.0},
                "saturating": {torch.float32: 100.0, torch.float64: 1000.0}}
DTYPES = {"float32": torch.float32, "float64": torch.float64}

ALL = frozenset(FEATURES)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_weights(config: LSTMConfig, seed: int, scale: float, dtype: torch.dtype) -> dict:
    """Weights in state_dict form, U(-k, k) with k = scale / sqrt(hidden_size)."""
    g = _gen(seed)
    bound = scale / math.sqrt(config.hidden_size)
    return {
        name: ((torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * bound).to(dtype)
        for name, shape in config.param_shapes().items()
    }


def make_input(config: LSTMConfig, seq_len: int, batch: int, seed: int, scale: float,
               dtype: torch.dtype) -> torch.Tensor:
    g = _gen(seed + 1)
    x = torch.randn(seq_len, batch, config.input_size, generator=g, dtype=torch.float64)
    return (x * scale).to(dtype)


def make_state(config: LSTMConfig, batch: int, seed: int, dtype: torch.dtype):
    """A random (h0, c0): h0 in (-1, 1), c0 standard normal."""
    g = _gen(seed + 2)
    rows = config.state_rows
    h0 = torch.rand(rows, batch, config.h_out, generator=g, dtype=torch.float64) * 2 - 1
    c0 = torch.randn(rows, batch, config.hidden_size, generator=g, dtype=torch.float64)
    return h0.to(dtype), c0.to(dtype)


def _pick(value, options):
    """A fixed value when one is given, else any of ``options``."""
    return st.just(value) if value is not None else st.sampled_from(options)


@st.composite
def configs(
    draw,
    *,
    supported: Iterable[str] = ALL,
    bidirectional: bool | None = None,
    min_layers: int = 1,
    max_layers: int = 3,
    proj: bool | None = None,
    bias: bool | None = None,
    batch_first: bool | None = None,
    dropout: bool | None = None,
) -> LSTMConfig:
    """An ``LSTMConfig`` within what the implementation supports.

    A keyword left at None is drawn; one set to a value is fixed. ``proj`` means
    proj_size > 0, ``dropout`` means dropout > 0 (it only matters in training).
    """
    supported = frozenset(supported)
    if "multi_layer" not in supported:
        max_layers = 1
    num_layers = draw(st.integers(min_layers, max(min_layers, max_layers)))
    bidi = draw(_pick(bidirectional, [False, True] if "bidirectional" in supported else [False]))
    use_proj = draw(_pick(proj, [False, True] if "proj_size" in supported else [False]))
    hidden = draw(st.integers(2 if use_proj else 1, 6))
    proj_size = draw(st.integers(1, hidden - 1)) if use_proj else 0
    with_bias = draw(_pick(bias, [True, False] if "no_bias" in supported else [True]))
    bf = draw(_pick(batch_first, [False, True] if "batch_first" in supported else [False]))
    # dropout > 0 with one layer has no effect (nn.LSTM warns); drawn only when asked for.
    use_dropout = draw(_pick(dropout, [False, True])) and (num_layers > 1 or dropout is True)
    p = draw(st.sampled_from([0.5, 1.0, 0.25])) if use_dropout else 0.0
    return LSTMConfig(
        input_size=draw(st.integers(1, 5)),
        hidden_size=hidden,
        num_layers=num_layers,
        bias=with_bias,
        batch_first=bf,
        dropout=p,
        bidirectional=bidi,
        proj_size=proj_size,
    )


@st.composite
def cases(
    draw,
    *,
    supported: Iterable[str] = ALL,
    forms: Iterable[str] = FORMS,
    dtypes: Iterable[str] = tuple(DTYPES),
    initial_state: bool | None = None,
    training: bool = False,
    min_seq_len: int = 1,
    max_seq_len: int = 8,
    max_batch: int = 5,
    weight_scales: Iterable[str] = tuple(WEIGHT_SCALES),
    input_scales: Iterable[str] = tuple(INPUT_SCALES),
    **config_kw,
) -> Case:
    """A whole case: config, weights, input in one of ``forms``, optional (h0, c0).

    ``config_kw`` goes to ``configs``. Forms, dtypes and initial state are restricted
    to what ``supported`` allows; a caller that *requires* a feature checks support
    first (``spec.invariants.Invariant.missing``).
    """
    supported = frozenset(supported)
    config = draw(configs(supported=supported, **config_kw))
    forms = [f for f in forms if f == "batched" or f in supported]
    form = draw(st.sampled_from(forms))
    dtype_name = draw(st.sampled_from([d for d in dtypes if d in supported]))
    dtype = DTYPES[dtype_name]
    seq_len = draw(st.integers(min_seq_len, max_seq_len))
    # Always drawn, so that every form uses the same choices and shrinking can move
    # between forms; unbatched input is a batch of one.
    batch = draw(st.integers(1, max_batch))
    batch = 1 if form == "unbatched" else batch
    has_state = draw(_pick(initial_state, [False, True] if "initial_state" in supported
                           else [False]))
    seed = draw(st.integers(0, 2**16))
    w_scale = draw(st.sampled_from(list(weight_scales)))
    x_scale = draw(st.sampled_from(list(input_scales)))
    lengths, enforce_sorted = None, False
    if form == "packed":
        lengths = draw(st.lists(st.integers(1, seq_len), min_size=batch, max_size=batch))
        lengths[draw(st.integers(0, batch - 1))] = seq_len  # the padded length is seq_len
        enforce_sorted = draw(st.booleans())
        if enforce_sorted:
            lengths.sort(reverse=True)
        lengths = tuple(lengths)
    event(f"form={form}")
    event(f"dtype={dtype_name}")
    return Case(
        config=config,
        dtype=dtype,
        weights=make_weights(config, seed, WEIGHT_SCALES[w_scale], dtype),
        x=make_input(config, seq_len, batch, seed, INPUT_SCALES[x_scale][dtype], dtype),
        hx=make_state(config, batch, seed, dtype) if has_state else None,
        form=form,
        lengths=lengths,
        enforce_sorted=enforce_sorted,
        training=training,
        weight_seed=seed,
        weight_scale=w_scale,
        input_scale=x_scale,
    )
