"""``Case``: one drawn example: a configuration, its weights, an input and a state.

Tensors are stored in canonical layout whatever the configuration says: ``x`` is
seq-first ``(L, N, input_size)``; ``hx`` is ``(h0 (D*nl, N, H_out), c0 (D*nl, N, H))``
or None. ``spec.harness`` turns them into what the implementation is called with
(batch-first, unbatched 2-D, or a ``PackedSequence``).

The methods below are the slices and rearrangements that metamorphic invariants make of
a case (one batch column, one layer, one direction, a permutation of the batch); each
keeps the weights, input, state and lengths consistent with one another.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.vocabulary import Form, Frozen, GradMode, Layout

#: Short names of the dtypes the spec draws, as results.json writes them.
DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64",
               torch.float16: "float16", torch.bfloat16: "bfloat16"}


@dataclass(frozen=True)
class Case:
    config: LSTMConfig
    dtype: torch.dtype
    weights: dict[str, torch.Tensor] = field(repr=False)
    x: torch.Tensor = field(repr=False)
    hx: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    form: Form = Form.BATCHED
    lengths: tuple[int, ...] | None = None
    enforce_sorted: bool = False
    training: bool = False
    weight_seed: int = 0
    weight_scale: str = "normal"
    input_scale: str = "unit"
    #: How x and (h0, c0) sit in memory when they reach the implementation (the harness
    #: makes the view; ``expanded-state`` is made here: ``hx`` is a stride-0 expansion).
    layout: Layout = Layout.DENSE
    #: The autograd mode of the call (a check that needs gradients calls with grad).
    grad_mode: GradMode = GradMode.GRAD
    #: Which parameters are frozen (requires_grad=False) after the module is built.
    frozen: Frozen = Frozen.NONE

    @property
    def seq_len(self) -> int:
        return self.x.shape[0]

    @property
    def batch(self) -> int:
        return self.x.shape[1]

    @property
    def top(self) -> int:
        """The row of the top layer's forward direction in h_n and c_n."""
        return (self.config.num_layers - 1) * self.config.num_directions

    @property
    def dtype_name(self) -> str:
        return DTYPE_NAMES[self.dtype]

    def replace(self, **changes) -> Case:
        return replace(self, **changes)

    # -- slices and rearrangements ------------------------------------------------------

    def column(self, b: int) -> Case:
        """Batch column b as a batch of one."""
        hx = None if self.hx is None else (self.hx[0][:, b:b + 1], self.hx[1][:, b:b + 1])
        lengths = None if self.lengths is None else (self.lengths[b],)
        return self.replace(x=self.x[:, b:b + 1], hx=hx, lengths=lengths, enforce_sorted=False)

    def permuted(self, perm: Sequence[int]) -> Case:
        """The batch reordered so that new column j is old column ``perm[j]``."""
        p = torch.tensor(list(perm), dtype=torch.long)
        hx = None if self.hx is None else (self.hx[0][:, p], self.hx[1][:, p])
        lengths = None if self.lengths is None else tuple(self.lengths[i] for i in perm)
        return self.replace(x=self.x[:, p], hx=hx, lengths=lengths, enforce_sorted=False)

    def widened(self) -> Case:
        """Batch columns added (copies of column 0) until N differs from both D*num_layers
        and T: shape checks cannot tell (N, rows) from (rows, N), or (N, T) from (T, N),
        otherwise."""
        case = self
        while case.batch in (case.config.state_rows, case.seq_len):
            lengths = None if case.lengths is None else (*case.lengths, case.lengths[0])
            hx = None if case.hx is None else tuple(torch.cat([s, s[:, :1]], 1) for s in case.hx)
            case = case.replace(x=torch.cat([case.x, case.x[:, :1]], 1), hx=hx, lengths=lengths,
                                enforce_sorted=False)
        return case

    def layer(self, k: int) -> Case:
        """Layer k as a one-layer case in eval mode: ``_l{k}`` weights become ``_l0``, and
        its state rows ``[k*D:(k+1)*D]`` become the whole state."""
        c = self.config
        D = c.num_directions
        config = c.replace(num_layers=1, dropout=0.0,
                           input_size=c.input_size if k == 0 else D * c.h_out)
        weights = {name.replace(f"_l{k}", "_l0"): w for name, w in self.weights.items()
                   if name.split("_l")[1].split("_")[0] == str(k)}
        hx = None if self.hx is None else (self.hx[0][k * D:(k + 1) * D],
                                           self.hx[1][k * D:(k + 1) * D])
        return self.replace(config=config, weights=weights, hx=hx, training=False)

    def direction(self, d: int) -> Case:
        """Direction d (0 forward, 1 backward) of a one-layer case, as a unidirectional
        case running that direction's weights (``_reverse`` dropped from their names)."""
        suffix = self.config.suffixes()[d]
        weights = {k.replace(suffix, "") if suffix else k: v for k, v in self.weights.items()
                   if k.endswith("_reverse") == (suffix == "_reverse")}
        hx = None if self.hx is None else (self.hx[0][d:d + 1], self.hx[1][d:d + 1])
        return self.replace(config=self.config.replace(bidirectional=False), weights=weights,
                            hx=hx)

    def zero_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Zeros in the shape of (h0, c0)."""
        c = self.config
        return (torch.zeros(c.state_rows, self.batch, c.h_out, dtype=self.dtype),
                torch.zeros(c.state_rows, self.batch, c.hidden_size, dtype=self.dtype))

    # -- what it is -----------------------------------------------------------------------

    @functools.cached_property
    def magnitude(self) -> float:
        """The largest sum of |terms| in a layer-0 input pre-activation, sum_j |W_ih[i, j]
        x[t, b, j]|, plus one for the recurrent and bias terms of order one. Rounding
        errors of the gate pre-activations, and so of everything after them, grow with
        it (``spec.tolerance.forward``)."""
        x = self.x.detach().abs().double()
        worst = 0.0
        for name, w in self.weights.items():
            if name.startswith("weight_ih_l0"):
                worst = max(worst, float((x @ w.detach().abs().double().T).max()))
        return worst + 1.0

    def features(self) -> frozenset[str]:
        """The capabilities (``spec.capabilities.FEATURES``) this case exercises."""
        c = self.config
        used = {self.dtype_name}
        used |= {"multi_layer"} if c.num_layers > 1 else set()
        used |= {"bidirectional"} if c.bidirectional else set()
        used |= {"proj_size"} if c.proj_size else set()
        used |= {"no_bias"} if not c.bias else set()
        used |= {"batch_first"} if c.batch_first and self.form == Form.BATCHED else set()
        used |= {"unbatched"} if self.form == Form.UNBATCHED else set()
        used |= {"packed"} if self.form == Form.PACKED else set()
        used |= {"initial_state"} if self.hx is not None else set()
        used |= {"dropout"} if self.training and c.dropout > 0 and c.num_layers > 1 else set()
        used |= {"strided"} if self.layout != Layout.DENSE else set()
        used |= {"no_grad"} if self.grad_mode != GradMode.GRAD else set()
        used |= {"frozen_weights"} if self.frozen != Frozen.NONE else set()
        return frozenset(used)

    def _repr_pretty_(self, printer, cycle) -> None:
        """How hypothesis prints a falsifying case: its description, not its tensors."""
        printer.text(f"Case({', '.join(f'{k}={v!r}' for k, v in self.describe().items())})")

    def describe(self) -> dict:
        """A JSON-able summary: enough to read the case and to rebuild it from its seed."""
        return {
            **self.config.kwargs(),
            "dtype": self.dtype_name,
            "form": str(self.form),
            "seq_len": self.seq_len,
            "batch": self.batch,
            "lengths": list(self.lengths) if self.lengths is not None else None,
            "enforce_sorted": self.enforce_sorted if self.form == Form.PACKED else None,
            "initial_state": self.hx is not None,
            "training": self.training,
            "weight_seed": self.weight_seed,
            "weight_scale": self.weight_scale,
            "input_scale": self.input_scale,
            "layout": str(self.layout),
            "grad_mode": str(self.grad_mode),
            "frozen": str(self.frozen),
        }
