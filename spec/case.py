"""``Case``: one drawn example: a configuration, its weights, an input and a state.

Tensors are stored in canonical layout whatever the configuration says: ``x`` is
seq-first ``(L, N, input_size)``; ``hx`` is ``(h0 (D*nl, N, H_out), c0 (D*nl, N, H))``
or None. ``spec.harness`` turns them into what the implementation is called with
(batch-first, unbatched 2-D, or a ``PackedSequence``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import torch

from spec.config import LSTMConfig

FORMS = ("batched", "unbatched", "packed")


@dataclass(frozen=True)
class Case:
    config: LSTMConfig
    dtype: torch.dtype
    weights: dict[str, torch.Tensor] = field(repr=False)
    x: torch.Tensor = field(repr=False)
    hx: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    form: str = "batched"
    lengths: tuple[int, ...] | None = None
    enforce_sorted: bool = False
    training: bool = False
    weight_seed: int = 0
    weight_scale: str = "normal"
    input_scale: str = "unit"

    @property
    def seq_len(self) -> int:
        return self.x.shape[0]

    @property
    def batch(self) -> int:
        return self.x.shape[1]

    def replace(self, **changes) -> Case:
        return replace(self, **changes)

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
        used = {"float32" if self.dtype == torch.float32 else "float64"}
        used |= {"multi_layer"} if c.num_layers > 1 else set()
        used |= {"bidirectional"} if c.bidirectional else set()
        used |= {"proj_size"} if c.proj_size else set()
        used |= {"no_bias"} if not c.bias else set()
        used |= {"batch_first"} if c.batch_first and self.form == "batched" else set()
        used |= {"unbatched"} if self.form == "unbatched" else set()
        used |= {"packed"} if self.form == "packed" else set()
        used |= {"initial_state"} if self.hx is not None else set()
        used |= {"dropout"} if self.training and c.dropout > 0 and c.num_layers > 1 else set()
        return frozenset(used)

    def _repr_pretty_(self, printer, cycle) -> None:
        """How hypothesis prints a falsifying case: its description, not its tensors."""
        printer.text(f"Case({', '.join(f'{k}={v!r}' for k, v in self.describe().items())})")

    def describe(self) -> dict:
        """A JSON-able summary: enough to read the case and to rebuild it from its seed."""
        return {
            **self.config.kwargs(),
            "dtype": str(self.dtype).removeprefix("torch."),
            "form": self.form,
            "seq_len": self.seq_len,
            "batch": self.batch,
            "lengths": list(self.lengths) if self.lengths is not None else None,
            "enforce_sorted": self.enforce_sorted if self.form == "packed" else None,
            "initial_state": self.hx is not None,
            "training": self.training,
            "weight_seed": self.weight_seed,
            "weight_scale": self.weight_scale,
            "input_scale": self.input_scale,
        }
