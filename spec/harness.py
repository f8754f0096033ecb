"""The harness: build an implementation for a case, call it, and read its answer.

``Subject`` wraps one implementation (a drop-in class, or a protocol backend already
adapted by ``spec.protocol.backend_module``). Invariants never call an implementation
directly: they call ``Subject.run``, which

* builds the module with the case's config (``NotImplementedError`` -> not applicable),
  converts it to the case's dtype, loads the case's weights, sets train/eval;
* calls it with the input in the case's form: seq-first or batch-first 3-D, unbatched
  2-D, or a ``PackedSequence``; with ``hx`` or without;
* checks that what came back is an LSTM result (``(output, (h_n, c_n))`` of tensors, of
  the right shapes, finite) and returns it in canonical seq-first layout.

Anything the implementation raises becomes ``ImplementationError``; a result of the
wrong structure too; a result of the wrong shape or with NaN/inf is a ``Violation``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from spec.asserts import assert_finite, assert_shape
from spec.case import Case
from spec.config import LSTMConfig
from spec.errors import ImplementationError, NotApplicable, Violation

STATE_DIMS = ("row", "batch", "feature")
OUTPUT_DIMS = ("t", "batch", "feature")


@dataclass
class Result:
    """One call's answer. ``output`` is seq-first ``(L, N, D*H_out)``, padded with zeros
    for packed input; ``raw`` is exactly what the implementation returned as output."""

    output: torch.Tensor
    h_n: torch.Tensor
    c_n: torch.Tensor
    raw: torch.Tensor | PackedSequence


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_describe(v) for v in value[:4])
        return f"{type(value).__name__}({inner}{', ...' if len(value) > 4 else ''})"
    return type(value).__name__


def _call(what: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (Violation, NotApplicable):
        raise
    except NotImplementedError as exc:
        raise NotApplicable(f"{what}: {exc or 'NotImplementedError'}") from exc
    except Exception as exc:
        raise ImplementationError(f"{what} raised {type(exc).__name__}: {exc}") from exc


class Subject:
    """An implementation under test, as the invariants see it."""

    def __init__(self, name: str, factory: Callable, unsupported: frozenset[str] = frozenset()):
        self.name = name
        self.factory = factory
        self.unsupported = frozenset(unsupported)

    def build(self, config: LSTMConfig, weights: dict, dtype: torch.dtype,
              training: bool = False):
        """A fresh module for ``config``, in ``dtype``, loaded with ``weights``."""
        try:
            module = self.factory(**config.kwargs())
        except NotImplementedError as exc:
            raise NotApplicable(f"constructor: {exc or 'NotImplementedError'}") from exc
        except Exception as exc:
            raise ImplementationError(
                f"constructor {self.name}(**{config.kwargs()}) raised {type(exc).__name__}: {exc}"
            ) from exc
        if dtype != torch.float32:
            if not hasattr(module, "to"):
                raise NotApplicable(f"{dtype} needs module.to(dtype), which it lacks")
            module = _call(f"module.to({dtype})", module.to, dtype)
        _call("load_state_dict", module.load_state_dict, dict(weights))
        _call("train()" if training else "eval()", module.train if training else module.eval)
        return module

    def module_for(self, case: Case):
        return self.build(case.config, case.weights, case.dtype, case.training)

    def call(self, module, case: Case, x: torch.Tensor | None = None,
             hx: tuple | None | str = "case", *, form: str | None = None,
             lengths: tuple[int, ...] | None | str = "case") -> Result:
        """Call ``module`` on ``x`` (canonical seq-first; default the case's) in ``form``.

        ``hx`` defaults to the case's; pass None to call without one. The result is
        checked for structure, shape and finiteness, and returned seq-first.
        """
        config = module_config = case.config
        x = case.x if x is None else x
        hx = case.hx if isinstance(hx, str) else hx
        form = form or case.form
        lengths = case.lengths if isinstance(lengths, str) else lengths
        L, N = x.shape[0], x.shape[1]
        if form == "batched":
            inp = x.transpose(0, 1).contiguous() if config.batch_first else x
            state = hx
        elif form == "unbatched":
            if N != 1:
                raise ValueError("unbatched form needs a batch of one")
            inp = x[:, 0]
            state = None if hx is None else (hx[0][:, 0], hx[1][:, 0])
        elif form == "packed":
            lengths = lengths or (L,) * N
            ordered = list(lengths) == sorted(lengths, reverse=True)
            inp = pack_padded_sequence(
                x, torch.tensor(lengths), enforce_sorted=case.enforce_sorted and ordered
            )
            state = hx
        else:
            raise ValueError(f"unknown form {form!r}")
        args = (inp,) if state is None else (inp, state)
        returned = _call(f"{self.name}(input{', hx' if state is not None else ''})", module, *args)
        return self._read(returned, module_config, form, L, N, lengths, inp)

    def run(self, case: Case, **kwargs) -> Result:
        """Build a module for ``case`` and call it once."""
        return self.call(self.module_for(case), case, **kwargs)

    def _read(self, returned, config: LSTMConfig, form: str, L: int, N: int,
              lengths, inp) -> Result:
        ok = (
            isinstance(returned, (tuple, list)) and len(returned) == 2
            and isinstance(returned[1], (tuple, list)) and len(returned[1]) == 2
            and all(isinstance(s, torch.Tensor) for s in returned[1])
        )
        want_out = PackedSequence if form == "packed" else torch.Tensor
        if not ok or not isinstance(returned[0], want_out):
            raise ImplementationError(
                f"returned {_describe(returned)}; expected (output, (h_n, c_n)) with output a "
                f"{want_out.__name__} and h_n, c_n tensors"
            )
        raw, (h_n, c_n) = returned[0], returned[1]
        D, Ho, H, rows = config.num_directions, config.h_out, config.hidden_size, config.state_rows
        if form == "packed":
            if not torch.equal(raw.batch_sizes, inp.batch_sizes):
                raise Violation(
                    f"output PackedSequence batch_sizes {raw.batch_sizes.tolist()}, expected "
                    f"{inp.batch_sizes.tolist()} (the input's)",
                    {"quantity": "output.batch_sizes"},
                )
            assert_shape(raw.data, (sum(lengths), D * Ho), "output.data (packed)")
            output, _ = pad_packed_sequence(raw, total_length=L)
        elif form == "unbatched":
            assert_shape(raw, (L, D * Ho), "output (unbatched)")
            output = raw.unsqueeze(1)
        else:
            shape = (N, L, D * Ho) if config.batch_first else (L, N, D * Ho)
            assert_shape(raw, shape, "output (batch_first)" if config.batch_first else "output")
            output = raw.transpose(0, 1) if config.batch_first else raw
        state_batch = () if form == "unbatched" else (N,)
        assert_shape(h_n, (rows, *state_batch, Ho), "h_n")
        assert_shape(c_n, (rows, *state_batch, H), "c_n")
        if form == "unbatched":
            h_n, c_n = h_n.unsqueeze(1), c_n.unsqueeze(1)
        for what, t, dims in (("output", output, OUTPUT_DIMS), ("h_n", h_n, STATE_DIMS),
                              ("c_n", c_n, STATE_DIMS)):
            assert_finite(t.detach(), what, dims)
        return Result(output=output, h_n=h_n, c_n=c_n, raw=raw)
