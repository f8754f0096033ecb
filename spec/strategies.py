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

``Draws`` is the typed description of which cases an invariant is checked on; its fields
are checked when it is made, so a misspelt or impossible restriction fails at import.
With ``large=True`` one dimension (hidden size, input size, sequence length or batch) is
pushed just past a common block boundary of kernels (``BOUNDARY_SIZES``), the others stay
tiny: bugs of a partial last tile, a time chunk or a batch split show there, and
shrinking moves the large dimension down the list to the smallest size that still fails.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from hypothesis import event
from hypothesis import strategies as st

from lstm_conformance.spec.capabilities import FEATURES
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.errors import DeclarationError
from lstm_conformance.spec.vocabulary import ALL_FORMS, Form, Frozen, GradMode, Layout

#: Weight magnitude: multiples of nn.LSTM's own init bound 1/sqrt(hidden_size).
WEIGHT_SCALES = {"normal": 1.0, "tiny": 1e-3, "large": 3.0}
#: Input magnitude: standard normal, or scaled so that gate pre-activations reach past
#: where exp(2z) overflows. Per dtype: x100 keeps float32's rounding of pre-activations
#: within its tolerance (docs/TOLERANCES.md); float64 has room for x1000.
INPUT_SCALES = {"unit": {torch.float32: 1.0, torch.float64: 1.0, torch.float16: 1.0,
                         torch.bfloat16: 1.0},
                "saturating": {torch.float32: 100.0, torch.float64: 1000.0, torch.float16: 100.0,
                               torch.bfloat16: 100.0}}
#: The dtypes cases are drawn in. Half precision (float16, bfloat16) is judged by its own
#: tolerances (spec.tolerance), measured like the others.
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16}
#: How often each dtype is drawn: float32 and float64 three eighths of the time each, the
#: half precisions an eighth each, whose wide tolerances would hide small bugs if drawn
#: more (listed first-shrinks-first: float32).
DTYPE_DRAWS = ("float32", "float64", "float16", "float32", "float64", "float32", "float64",
               "bfloat16")

#: Sizes just past (and at) the block boundaries of common kernels: warps of 32, tiles of
#: 16 to 128, time chunks of 64. Listed smallest first, which is where shrinking goes.
BOUNDARY_SIZES = {
    "hidden_size": (9, 17, 33, 64, 65, 127, 129),
    "input_size": (9, 17, 33, 64, 65, 127, 129),
    "seq_len": (17, 33, 65, 129, 257),
    "batch": (17, 33, 65, 129),
}
#: Production sizes, for the ``stress`` profile's checks (spec/invariants/stress.py):
#: batches in the hundreds and past a thousand (ROCm's LSTM goes wrong above about 100 and
#: crashes above 500, pytorch#177834), hidden sizes past 1024, sequences on both sides of
#: 65,536 steps (cuDNN's fails past 65,535, pytorch#133751). Smallest first, like
#: ``BOUNDARY_SIZES``, so shrinking names the first size that fails.
STRESS_SIZES = {
    "hidden_size": (257, 513, 1025),
    "seq_len": (4097, 65535, 65536, 65537),
    "batch": (129, 257, 513, 1025, 2049),
}
#: The size lists a ``Draws(large=True)`` pushes one dimension through.
LARGE_SIZES = {"boundary": BOUNDARY_SIZES, "stress": STRESS_SIZES}

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


def make_case_state(config: LSTMConfig, batch: int, seed: int, dtype: torch.dtype,
                    layout: Layout):
    """The case's (h0, c0): random per column, or, for the ``expanded-state`` layout, one
    column expanded (stride 0) over the batch, as a learned initial state reaches a module."""
    if layout == Layout.EXPANDED_STATE:
        h0, c0 = make_state(config, 1, seed, dtype)
        return h0.expand(-1, batch, -1), c0.expand(-1, batch, -1)
    return make_state(config, batch, seed, dtype)


def in_dtype(case: Case, dtype: torch.dtype) -> Case:
    """The same drawn case in another dtype: weights, input and state made again from its
    seed and scales (not cast, so each dtype gets its own correctly rounded values)."""
    config, seed = case.config, case.weight_seed
    return case.replace(
        dtype=dtype,
        weights=make_weights(config, seed, WEIGHT_SCALES[case.weight_scale], dtype),
        x=make_input(config, case.seq_len, case.batch, seed,
                     INPUT_SCALES[case.input_scale][dtype], dtype),
        hx=None if case.hx is None else make_case_state(config, case.batch, seed, dtype,
                                                        case.layout))


def rebuild_case(description: dict) -> Case:
    """The case that ``Case.describe()`` described, made again from its seed and scales:
    what a standalone script and a replay need (``description`` is JSON-able)."""
    d = description
    config = LSTMConfig(**{k: d[k] for k in ("input_size", "hidden_size", "num_layers", "bias",
                                              "batch_first", "dropout", "bidirectional",
                                              "proj_size")})
    dtype, seed = DTYPES[d["dtype"]], d["weight_seed"]
    layout = Layout(d.get("layout", Layout.DENSE))
    lengths = d.get("lengths")
    return Case(
        config=config, dtype=dtype,
        weights=make_weights(config, seed, WEIGHT_SCALES[d["weight_scale"]], dtype),
        x=make_input(config, d["seq_len"], d["batch"], seed,
                     INPUT_SCALES[d["input_scale"]][dtype], dtype),
        hx=make_case_state(config, d["batch"], seed, dtype, layout) if d["initial_state"]
        else None,
        form=Form(d["form"]), lengths=None if lengths is None else tuple(lengths),
        enforce_sorted=bool(d.get("enforce_sorted")), training=d["training"],
        weight_seed=seed, weight_scale=d["weight_scale"], input_scale=d["input_scale"],
        layout=layout, grad_mode=GradMode(d.get("grad_mode", GradMode.GRAD)),
        frozen=Frozen(d.get("frozen", Frozen.NONE)))


def _pick(value, options):
    """A fixed value when one is given, else any of ``options``."""
    return st.just(value) if value is not None else st.sampled_from(options)


@dataclass(frozen=True, kw_only=True)
class Draws:
    """Which cases an invariant is checked on. A field left at None is drawn; one set to a
    value is fixed. ``proj`` means proj_size > 0, ``dropout`` means dropout > 0 (it only
    matters in training); ``large`` pushes one dimension past a block boundary."""

    forms: tuple[Form, ...] = ALL_FORMS
    dtypes: tuple[str, ...] = tuple(DTYPES)
    initial_state: bool | None = None
    training: bool = False
    min_seq_len: int = 1
    max_seq_len: int = 8
    max_batch: int = 5
    weight_scales: tuple[str, ...] = tuple(WEIGHT_SCALES)
    input_scales: tuple[str, ...] = tuple(INPUT_SCALES)
    bidirectional: bool | None = None
    min_layers: int = 1
    max_layers: int = 3
    proj: bool | None = None
    bias: bool | None = None
    batch_first: bool | None = None
    dropout: bool | None = None
    large: bool = False
    #: The dimensions ``large`` may push (all of ``BOUNDARY_SIZES`` unless narrowed).
    large_dims: tuple[str, ...] = tuple(BOUNDARY_SIZES)
    #: Which sizes ``large`` pushes them through: ``boundary`` (``BOUNDARY_SIZES``) or
    #: ``stress`` (``STRESS_SIZES``, production sizes).
    large_sizes: str = "boundary"
    #: An expanded state makes every column of (h0, c0) the same, which hides bugs that mix
    #: batch columns: only checks that ask for it (strided-views) draw it.
    layouts: tuple[Layout, ...] = tuple(lay for lay in Layout if lay != Layout.EXPANDED_STATE)
    grad_modes: tuple[GradMode, ...] = tuple(GradMode)
    frozen: tuple[Frozen, ...] = tuple(Frozen)

    def __post_init__(self) -> None:
        object.__setattr__(self, "forms", tuple(Form(f) for f in self.forms))
        for name, kind in (("layouts", Layout), ("grad_modes", GradMode), ("frozen", Frozen)):
            try:
                object.__setattr__(self, name, tuple(kind(v) for v in getattr(self, name)))
            except ValueError as exc:
                raise DeclarationError(f"{name}={getattr(self, name)!r}: {exc}; known: "
                                       f"{[str(v) for v in kind]}") from exc
            if not getattr(self, name):
                raise DeclarationError(f"{name} is empty")
        for name, known in (("dtypes", DTYPES), ("weight_scales", WEIGHT_SCALES),
                            ("input_scales", INPUT_SCALES)):
            unknown = sorted(set(getattr(self, name)) - set(known))
            if unknown or not getattr(self, name):
                raise DeclarationError(f"{name}={getattr(self, name)!r}: unknown {unknown}; "
                                       f"known: {sorted(known)}")
        if not 1 <= self.min_seq_len <= self.max_seq_len or self.max_batch < 1:
            raise DeclarationError(f"empty size range: seq_len {self.min_seq_len}.."
                                   f"{self.max_seq_len}, batch 1..{self.max_batch}")
        if not 1 <= self.min_layers <= self.max_layers:
            raise DeclarationError(f"empty layer range {self.min_layers}..{self.max_layers}")
        if self.large_sizes not in LARGE_SIZES:
            raise DeclarationError(f"large_sizes={self.large_sizes!r}; known: "
                                   f"{sorted(LARGE_SIZES)}")
        unknown = sorted(set(self.large_dims) - set(self.sizes))
        if unknown or not self.large_dims:
            raise DeclarationError(f"large_dims={self.large_dims!r}: unknown {unknown}; known: "
                                   f"{sorted(self.sizes)}")

    @property
    def sizes(self) -> dict[str, tuple[int, ...]]:
        """The sizes ``large`` draws from, per dimension."""
        return LARGE_SIZES[self.large_sizes]

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def implied_requirements(self) -> frozenset[str]:
        """The capabilities that these cases cannot do without."""
        forms = set(self.forms)
        implied = {
            "multi_layer": self.min_layers >= 2,
            "bidirectional": self.bidirectional is True,
            "proj_size": self.proj is True,
            "no_bias": self.bias is False,
            "batch_first": self.batch_first is True and forms == {Form.BATCHED},
            "packed": forms == {Form.PACKED},
            "unbatched": forms == {Form.UNBATCHED},
            "initial_state": self.initial_state is True,
            "dropout": self.training and self.dropout is True,
            "strided": Layout.DENSE not in self.layouts,
            "no_grad": GradMode.GRAD not in self.grad_modes,
            "frozen_weights": Frozen.NONE not in self.frozen,
        }
        return frozenset(name for name, needed in implied.items() if needed)


@st.composite
def configs(draw, *, supported: Iterable[str] = ALL, draws: Draws = Draws(),
            large: str | None = None) -> LSTMConfig:
    """An ``LSTMConfig`` within what the implementation supports and ``draws`` allows;
    ``large`` names the dimension (``hidden_size`` or ``input_size``) to push past a
    block boundary, if any."""
    supported = frozenset(supported)
    max_layers = draws.max_layers if "multi_layer" in supported else 1
    num_layers = draw(st.integers(draws.min_layers, max(draws.min_layers, max_layers)))
    bidi = draw(_pick(draws.bidirectional,
                      [False, True] if "bidirectional" in supported else [False]))
    use_proj = draw(_pick(draws.proj, [False, True] if "proj_size" in supported else [False]))
    if large == "hidden_size":
        hidden = draw(st.sampled_from(draws.sizes["hidden_size"]))
    else:
        hidden = draw(st.integers(2 if use_proj else 1, 6))
    proj_size = draw(st.integers(1, min(hidden - 1, 6))) if use_proj else 0
    with_bias = draw(_pick(draws.bias, [True, False] if "no_bias" in supported else [True]))
    bf = draw(_pick(draws.batch_first,
                    [False, True] if "batch_first" in supported else [False]))
    # dropout > 0 with one layer has no effect (nn.LSTM warns); drawn only when asked for.
    use_dropout = (draw(_pick(draws.dropout, [False, True]))
                   and (num_layers > 1 or draws.dropout is True))
    p = draw(st.sampled_from([0.5, 1.0, 0.25])) if use_dropout else 0.0
    if large == "input_size":
        input_size = draw(st.sampled_from(draws.sizes["input_size"]))
    else:
        input_size = draw(st.integers(1, 5))
    return LSTMConfig(
        input_size=input_size,
        hidden_size=hidden,
        num_layers=num_layers,
        bias=with_bias,
        batch_first=bf,
        dropout=p,
        bidirectional=bidi,
        proj_size=proj_size,
    )


@st.composite
def cases(draw, *, supported: Iterable[str] = ALL, draws: Draws = Draws()) -> Case:
    """A whole case: config, weights, input in one of the allowed forms, optional (h0, c0).

    Forms, dtypes and initial state are restricted to what ``supported`` allows; a caller
    that *requires* a feature checks support first (``Invariant.missing``).
    """
    supported = frozenset(supported)
    large = draw(st.sampled_from(list(draws.large_dims))) if draws.large else None
    config = draw(configs(supported=supported, draws=draws, large=large))
    forms = [f for f in draws.forms if f == Form.BATCHED or f in supported]
    form = draw(st.sampled_from(forms))
    dtype_name = draw(st.sampled_from([d for d in DTYPE_DRAWS
                                       if d in draws.dtypes and d in supported]))
    dtype = DTYPES[dtype_name]
    if large == "seq_len":
        seq_len = draw(st.sampled_from(draws.sizes["seq_len"]))
    else:
        seq_len = draw(st.integers(draws.min_seq_len, draws.max_seq_len))
    # Always drawn, so that every form uses the same choices and shrinking can move
    # between forms; unbatched input is a batch of one.
    if large == "batch" and form != Form.UNBATCHED:
        batch = draw(st.sampled_from(draws.sizes["batch"]))
    else:
        batch = draw(st.integers(1, draws.max_batch))
    batch = 1 if form == Form.UNBATCHED else batch
    has_state = draw(_pick(draws.initial_state,
                           [False, True] if "initial_state" in supported else [False]))
    seed = draw(st.integers(0, 2**16))
    w_scale = draw(st.sampled_from(list(draws.weight_scales)))
    x_scale = draw(st.sampled_from(list(draws.input_scales)))
    layout, grad_mode, frozen = draw(memory_and_autograd(supported, draws, form, has_state))
    lengths, enforce_sorted = None, False
    if form == Form.PACKED:
        lengths = draw(st.lists(st.integers(1, seq_len), min_size=batch, max_size=batch))
        lengths[draw(st.integers(0, batch - 1))] = seq_len  # the padded length is seq_len
        enforce_sorted = draw(st.booleans())
        if enforce_sorted:
            lengths.sort(reverse=True)
        lengths = tuple(lengths)
    event(f"form={form}")
    event(f"dtype={dtype_name}")
    if large:
        event(f"large={large}")
    return Case(
        config=config,
        dtype=dtype,
        weights=make_weights(config, seed, WEIGHT_SCALES[w_scale], dtype),
        x=make_input(config, seq_len, batch, seed, INPUT_SCALES[x_scale][dtype], dtype),
        hx=make_case_state(config, batch, seed, dtype, layout) if has_state else None,
        form=form,
        lengths=lengths,
        enforce_sorted=enforce_sorted,
        training=draws.training,
        weight_seed=seed,
        weight_scale=w_scale,
        input_scale=x_scale,
        layout=layout,
        grad_mode=grad_mode,
        frozen=frozen,
    )


#: How often the usual value of each call dimension is drawn against each unusual one: the
#: usual (dense, with grad, nothing frozen) stays the common case, and listed first, it is
#: where shrinking goes, so a counterexample names an unusual value only when it matters.
USUAL_WEIGHT = 3


def _usual_first(allowed: tuple, usual, supported_here: bool):
    """``sampled_from`` the allowed values, the usual one repeated ``USUAL_WEIGHT`` times
    in front; only the usual one where the capability is not supported."""
    if not supported_here and usual in allowed:
        return st.just(usual)
    options = [usual] * USUAL_WEIGHT if usual in allowed else []
    options += [v for v in allowed if v != usual]
    return st.sampled_from(options)


@st.composite
def memory_and_autograd(draw, supported: frozenset[str], draws: Draws, form: Form,
                        has_state: bool):
    """(layout, grad mode, frozen) of a case: how its tensors sit in memory, the autograd
    mode of the call, which parameters are frozen. Packed input's data is made by
    pack_padded_sequence, so only its state can be a view (``expanded-state``)."""
    layouts = tuple(lay for lay in draws.layouts
                    if (lay != Layout.EXPANDED_STATE or has_state)
                    and (form != Form.PACKED or lay in (Layout.DENSE, Layout.EXPANDED_STATE)))
    layout = draw(_usual_first(layouts or (Layout.DENSE,), Layout.DENSE,
                               "strided" in supported))
    grad_mode = draw(_usual_first(draws.grad_modes, GradMode.GRAD, "no_grad" in supported))
    frozen = draw(_usual_first(draws.frozen, Frozen.NONE,
                               "frozen_weights" in supported and "autograd" in supported))
    return layout, grad_mode, frozen


#: The small sizes of a boundary case's other dimensions.
_SMALL = {"hidden_size": 4, "input_size": 3, "seq_len": 5, "batch": 3}


def boundary_cases(supported: Iterable[str], draws: Draws) -> list[Case]:
    """The decisive cases of ``draws`` with ``large=True``: for each dimension, its largest
    boundary size (``BOUNDARY_SIZES``: hidden and input 129 hold a partial tile for every
    tile size up to 128, 257 steps cross every time chunk up to 256, a batch of 129 splits
    every way up to 128), in every input form, with everything that makes a bug there
    visible where the implementation supports it: a bias, an initial state, weights of
    nn.LSTM's own scale, two bidirectional layers, full precision. The others stay small.
    """
    supported = frozenset(supported)
    dtypes = [d for d in ("float32", "float64") if d in draws.dtypes and d in supported]
    if not dtypes:
        return []
    dtype = DTYPES[dtypes[0]]
    layers = 2 if "multi_layer" in supported and draws.max_layers >= 2 else 1
    bidi = "bidirectional" in supported and draws.bidirectional is not False
    bias = draws.bias is not False or "no_bias" not in supported
    has_state = "initial_state" in supported and draws.initial_state is not False
    found = []
    for dim in draws.large_dims:
        for form in draws.forms:
            if (form != Form.BATCHED and form not in supported) \
                    or (form == Form.UNBATCHED and dim == "batch"):
                continue
            size = {**_SMALL, dim: draws.sizes[dim][-1]}
            config = LSTMConfig(input_size=size["input_size"], hidden_size=size["hidden_size"],
                                num_layers=layers, bias=bias, bidirectional=bidi)
            L, N = size["seq_len"], 1 if form == Form.UNBATCHED else size["batch"]
            lengths = None
            if form == Form.PACKED:  # unsorted, from the full length down to one step
                lengths = tuple(L if b == 0 else 1 + (b * 37) % L for b in range(N))
            seed = len(found) + 1
            found.append(Case(
                config=config, dtype=dtype, weights=make_weights(config, seed, 1.0, dtype),
                x=make_input(config, L, N, seed, 1.0, dtype),
                hx=make_state(config, N, seed, dtype) if has_state else None, form=form,
                lengths=lengths, training=draws.training, weight_seed=seed))
    return found


def dtype_cases(supported: Iterable[str], draws: Draws) -> list[Case]:
    """One plain, small case per dtype that ``draws`` allows and the implementation
    supports: what every run checks in each dtype, since drawn examples are not spread
    evenly (a run of 25 can draw no float64 at all). The case is the simplest that
    ``draws`` permits (its first form, its fewest layers, a batch of two), with whatever
    the draws require (both directions, projections, dropout in training, a state)."""
    supported = frozenset(supported)
    forms = [f for f in draws.forms if f == Form.BATCHED or f in supported]
    if not forms:
        return []
    form = forms[0]
    layers = draws.min_layers
    bidi = draws.bidirectional is True
    hidden = 3
    config = LSTMConfig(input_size=2, hidden_size=hidden, num_layers=layers,
                        bias=draws.bias is not False, batch_first=draws.batch_first is True,
                        dropout=0.5 if draws.dropout is True else 0.0, bidirectional=bidi,
                        proj_size=2 if draws.proj is True else 0)
    L = max(draws.min_seq_len, min(3, draws.max_seq_len))
    N = 1 if form == Form.UNBATCHED else min(2, draws.max_batch)
    lengths = (L,) + (max(1, L - 1),) * (N - 1) if form == Form.PACKED else None
    found = []
    for name in draws.dtypes:
        if name not in supported:
            continue
        dtype, seed = DTYPES[name], len(found) + 11
        found.append(Case(
            config=config, dtype=dtype, weights=make_weights(config, seed, 1.0, dtype),
            x=make_input(config, L, N, seed, 1.0, dtype),
            hx=make_state(config, N, seed, dtype) if draws.initial_state is True else None,
            form=form, lengths=lengths, training=draws.training, weight_seed=seed))
    return found
