"""The harness: build an implementation for a case, call it, and read its answer.

``Subject`` wraps one implementation (a drop-in class, or a protocol backend already
adapted by ``spec.protocol.backend_module``). Invariants never call an implementation
directly: they call ``Subject.run``, which

* builds the module with the case's config (``NotImplementedError`` -> not applicable),
  converts it to the case's dtype, loads the case's weights, sets train/eval;
* freezes the parameters the case says (``Case.frozen``);
* calls it with the input in the case's form: seq-first or batch-first 3-D, unbatched
  2-D, or a ``PackedSequence``; with ``hx`` or without; the tensors in the case's memory
  layout (``as_layout``: a transpose, a slice of wider features, every other step), and
  in the case's autograd mode (``torch.no_grad()``, ``torch.inference_mode()``); to an
  implementation that declares ``strided`` or ``autograd`` unsupported, every tensor is
  passed dense and detached (``Subject.as_declared``), whatever slice or earlier result a
  check hands it;
* checks that what came back is an LSTM result (``(output, (h_n, c_n))`` of tensors, of
  the right shapes, finite) and returns it in canonical seq-first layout.

Anything the implementation raises becomes ``ImplementationError``; a result of the
wrong structure too; a result of the wrong shape or with NaN/inf is a ``Violation``.

On a device (``Subject(..., device="cuda")``) the case is still made on the CPU, so seeds
and counterexamples are the same on every device: the module is moved to the device after
its weights are loaded, the input and state are moved there before the call (keeping an
expanded state's stride 0; the other layouts are made there, from the moved tensors), and
the results come back to the CPU, where the oracle and every comparison run. Where each
result was returned is kept (``Result.devices``) for the device contract's checks. With
the default ``"cpu"`` nothing is moved at all.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstm_conformance.spec.asserts import assert_finite, assert_shape
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.errors import (
    ImplementationError,
    NotApplicable,
    Violation,
    qualified_name,
)
from lstm_conformance.spec.vocabulary import Form, Frozen, GradMode, Layout

STATE_DIMS = ("row", "batch", "feature")
CPU = torch.device("cpu")
OUTPUT_DIMS = ("t", "batch", "feature")


class _FromCase:
    """The default of ``Subject.call``'s ``hx`` and ``lengths``: take the case's (None
    already means "call without one")."""

    def __repr__(self) -> str:
        return "FROM_CASE"


FROM_CASE = _FromCase()


@dataclass
class Result:
    """One call's answer. ``output`` is seq-first ``(L, N, D*H_out)``, padded with zeros
    for packed input; ``raw`` is exactly what the implementation returned as output."""

    output: torch.Tensor
    h_n: torch.Tensor
    c_n: torch.Tensor
    raw: torch.Tensor | PackedSequence
    #: Where the implementation returned output, h_n and c_n (before they were brought to
    #: the CPU).
    devices: tuple[torch.device, torch.device, torch.device] | None = None

    @property
    def triple(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.output, self.h_n, self.c_n


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_describe(v) for v in value[:4])
        return f"{qualified_name(type(value))}({inner}{', ...' if len(value) > 4 else ''})"
    return qualified_name(type(value))


def _call(what: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (Violation, NotApplicable):
        raise
    except NotImplementedError as exc:
        raise NotApplicable(f"{what}: {exc or 'NotImplementedError'}") from exc
    except Exception as exc:
        name = qualified_name(type(exc))
        raise ImplementationError(f"{what} raised {name}: {exc}", kind="raised",
                                  exception=name) from exc


#: What fills the memory a strided view skips: a kernel that reads past its view's strides
#: reads NaN, and the result says so.
SKIPPED = float("nan")


def as_layout(t: torch.Tensor, layout: Layout) -> torch.Tensor:
    """A tensor with ``t``'s values (and autograd history) and the strides of ``layout``.

    ``transposed`` stores dims 0 and 1 the other way round (a batch-first view of a
    time-major buffer, or the reverse); ``feature-slice`` is the first features of a tensor
    three features wider; ``time-stride`` every other entry of dim 0 of one twice as long.
    ``dense`` and ``expanded-state`` (made in the case itself) leave ``t`` as it is.
    """
    if layout == Layout.TRANSPOSED and t.dim() >= 2:
        return t.transpose(0, 1).contiguous().transpose(0, 1)
    if layout == Layout.FEATURE_SLICE:
        skipped = torch.full((*t.shape[:-1], 3), SKIPPED, dtype=t.dtype, device=t.device)
        return torch.cat([t, skipped], -1)[..., :t.shape[-1]]
    if layout == Layout.TIME_STRIDE:
        skipped = torch.full_like(t, SKIPPED)
        return torch.stack([t, skipped], 1).flatten(0, 1)[::2]
    return t


def grad_mode(mode: GradMode):
    """The context manager of an autograd mode."""
    if mode == GradMode.NO_GRAD:
        return torch.no_grad()
    if mode == GradMode.INFERENCE:
        return torch.inference_mode()
    return contextlib.nullcontext()


def frozen_names(config: LSTMConfig, frozen: Frozen) -> list[str]:
    """The nn.LSTM parameter names that ``frozen`` freezes: all, none, or "some": the bottom
    layer of a stack (as fine-tuning freezes it), or a single layer's input weights."""
    names = list(config.param_shapes())
    if frozen == Frozen.ALL:
        return names
    if frozen == Frozen.SOME:
        part = "_l0" if config.num_layers > 1 else "weight_ih_l0"
        return [n for n in names if part in n]
    return []


def to_device(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """``t`` on ``device`` with its values and autograd history; an expanded tensor (stride
    0 in some dimension, as a learned initial state reaches a module) stays expanded there.
    """
    if t is None or t.device == device:
        return t
    expanded = [d for d in range(t.dim()) if t.stride(d) == 0 and t.shape[d] > 1]
    if not expanded:
        return t.to(device)
    base = t
    for d in expanded:
        base = base.narrow(d, 0, 1)
    return base.to(device).expand(t.shape)


#: Called as ``observer(phase, seconds)`` after each build ("build") and call ("forward")
#: of an implementation: the one supported way to time what the implementations do.
CallObserver = Callable[[str, float], None]


class Subject:
    """An implementation under test, as the invariants see it."""

    def __init__(self, name: str, factory: Callable, unsupported: frozenset[str] = frozenset(),
                 observer: CallObserver | None = None, excluded: frozenset[str] = frozenset(),
                 device: str | torch.device = "cpu"):
        self.name = name
        #: Where the implementation is built and called (``--lstm-device``).
        self.device = torch.device(device)
        self.factory = factory
        self.unsupported = frozenset(unsupported) | frozenset(excluded)
        self.observer = observer
        #: Capabilities the suite leaves out although the implementation has them (to look
        #: past a failure); ``unsupported`` includes them.
        self.excluded = frozenset(excluded)

    def restricted(self, excluded: frozenset[str]) -> Subject:
        """The same implementation, with cases that need ``excluded`` left out too."""
        return Subject(self.name, self.factory, self.unsupported, self.observer,
                       self.excluded | excluded, self.device)

    def on(self, device: str | torch.device) -> Subject:
        """The same implementation, built and called on ``device``."""
        return Subject(self.name, self.factory, self.unsupported, self.observer,
                       self.excluded, device)

    @property
    def on_cpu(self) -> bool:
        return self.device.type == "cpu"

    def _observe(self, phase: str, start: float) -> None:
        if self.observer is not None:
            self.observer(phase, time.perf_counter() - start)

    def build(self, config: LSTMConfig, weights: dict, dtype: torch.dtype,
              training: bool = False):
        """A fresh module for ``config``, in ``dtype``, loaded with ``weights``."""
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                if config.dropout > 0 and config.num_layers == 1:
                    # Drawn on purpose (dropout-train-structure: one layer has no dropout);
                    # nn.LSTM warns about it, and the warning says nothing about the
                    # implementation under test.
                    warnings.filterwarnings("ignore", "dropout option adds dropout",
                                            UserWarning)
                module = self.factory(**config.kwargs())
        except NotImplementedError as exc:
            raise NotApplicable(f"constructor: {exc or 'NotImplementedError'}") from exc
        except Exception as exc:
            name = qualified_name(type(exc))
            raise ImplementationError(
                f"constructor {self.name}(**{config.kwargs()}) raised {name}: {exc}",
                kind="raised", exception=name) from exc
        if dtype != torch.float32:
            if not hasattr(module, "to"):
                raise NotApplicable(f"{dtype} needs module.to(dtype), which it lacks")
            module = _call(f"module.to({dtype})", module.to, dtype)
        _call("load_state_dict", module.load_state_dict, dict(weights))
        if not self.on_cpu:
            if not hasattr(module, "to"):
                raise NotApplicable(f"the device {self.device} needs module.to(device), "
                                    "which it lacks")
            module = _call(f"module.to({str(self.device)!r})", module.to, self.device)
        _call("train()" if training else "eval()", module.train if training else module.eval)
        self._observe("build", start)
        return module

    def module_for(self, case: Case):
        module = self.build(case.config, case.weights, case.dtype, case.training)
        if case.frozen == Frozen.ALL and hasattr(module, "requires_grad_"):
            module.requires_grad_(False)
        elif case.frozen != Frozen.NONE:
            params = dict(module.named_parameters()) \
                if hasattr(module, "named_parameters") else {}
            names = frozen_names(case.config, case.frozen)
            if not set(names) <= set(params):
                raise NotApplicable("freezing some weights needs named_parameters() under "
                                    "nn.LSTM's names")
            for name in names:
                params[name].requires_grad_(False)
        return module

    def call(self, module, case: Case, x: torch.Tensor | None = None,
             hx: tuple | None | _FromCase = FROM_CASE, *, form: Form | None = None,
             lengths: tuple[int, ...] | None | _FromCase = FROM_CASE,
             device: torch.device | None = None) -> Result:
        """Call ``module`` on ``x`` (canonical seq-first; default the case's) in ``form``.

        ``hx`` defaults to the case's; pass None to call without one. The input and state
        go to ``device`` (default: the subject's) first. The result is checked for
        structure, shape and finiteness, and returned seq-first, on the CPU.
        """
        x = case.x if x is None else x
        form = form or case.form
        lengths = case.lengths if lengths is FROM_CASE else lengths
        L, N = x.shape[0], x.shape[1]
        lengths = lengths or (L,) * N if form == Form.PACKED else lengths
        args = self.arguments(case, x, hx, form=form, lengths=lengths, device=device)
        start = time.perf_counter()
        with grad_mode(case.grad_mode):
            returned = _call(f"{self.name}(input{', hx' if len(args) > 1 else ''})", module,
                             *args)
        self._observe("forward", start)
        return self._read(returned, case.config, form, L, N, lengths, args[0])

    def arguments(self, case: Case, x: torch.Tensor | None = None,
                  hx: tuple | None | _FromCase = FROM_CASE, *, form: Form | None = None,
                  lengths: tuple[int, ...] | None | _FromCase = FROM_CASE,
                  device: torch.device | None = None) -> tuple:
        """``(input,)`` or ``(input, (h0, c0))`` as ``call`` passes them: on ``device``
        (default: the subject's), in ``form`` and the case's layout."""
        config = case.config
        device = self.device if device is None else torch.device(device)
        x = self.as_declared(to_device(case.x if x is None else x, device))
        hx = case.hx if hx is FROM_CASE else hx
        if hx is not None:
            hx = tuple(self.as_declared(to_device(s, device)) for s in hx)
        form = form or case.form
        lengths = case.lengths if lengths is FROM_CASE else lengths
        L, N = x.shape[0], x.shape[1]
        if form == Form.BATCHED:
            inp = x.transpose(0, 1).contiguous() if config.batch_first else x
            state = hx
            inp, state = self._in_layout(case.layout, inp, state)
        elif form == Form.UNBATCHED:
            if N != 1:
                raise ValueError("unbatched form needs a batch of one")
            inp = x[:, 0]
            state = None if hx is None else (hx[0][:, 0], hx[1][:, 0])
            inp, state = self._in_layout(case.layout, inp, state)
        elif form == Form.PACKED:
            lengths = lengths or (L,) * N
            ordered = list(lengths) == sorted(lengths, reverse=True)
            inp = pack_padded_sequence(
                x, torch.tensor(lengths), enforce_sorted=case.enforce_sorted and ordered
            )
            state = hx
        else:
            raise ValueError(f"unknown form {form!r}")
        return (inp,) if state is None else (inp, state)

    def as_declared(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` as an implementation may receive it, given what it declares unsupported:
        dense (``strided``) and outside autograd (``autograd``), with the same values.

        Checks pass slices of their case's tensors (one batch row, a time step) and the
        results of earlier calls; a declaration is kept here, where every call's tensors
        pass, rather than in each check.
        """
        if "autograd" in self.unsupported and t.requires_grad:
            t = t.detach()
        if "strided" in self.unsupported and not t.is_contiguous():
            t = t.contiguous()
        return t

    @staticmethod
    def _in_layout(layout: Layout, inp: torch.Tensor, state):
        """The input and state as the views ``layout`` makes (same values)."""
        if state is not None:
            state = tuple(as_layout(s, layout) for s in state)
        return as_layout(inp, layout), state

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
        want_out = PackedSequence if form == Form.PACKED else torch.Tensor
        if not ok or not isinstance(returned[0], want_out):
            raise ImplementationError(
                f"returned {_describe(returned)}; expected (output, (h_n, c_n)) with output a "
                f"{qualified_name(want_out)} and h_n, c_n torch.Tensor", kind="returned")
        raw, (h_n, c_n) = returned[0], returned[1]
        D, Ho, H, rows = config.num_directions, config.h_out, config.hidden_size, config.state_rows
        if form == Form.PACKED:
            if not torch.equal(raw.batch_sizes, inp.batch_sizes):
                raise Violation(
                    f"output PackedSequence batch_sizes {raw.batch_sizes.tolist()}, expected "
                    f"{inp.batch_sizes.tolist()} (the input's)",
                    {"check": "shape", "quantity": "output.batch_sizes"},
                )
            assert_shape(raw.data, (sum(lengths), D * Ho), "output.data (packed)", name="output")
            output, _ = pad_packed_sequence(raw, total_length=L)
        elif form == Form.UNBATCHED:
            assert_shape(raw, (L, D * Ho), "output (unbatched)", name="output")
            output = raw.unsqueeze(1)
        else:
            shape = (N, L, D * Ho) if config.batch_first else (L, N, D * Ho)
            assert_shape(raw, shape, "output (batch_first)" if config.batch_first else "output",
                         name="output")
            output = raw.transpose(0, 1) if config.batch_first else raw
        state_batch = () if form == Form.UNBATCHED else (N,)
        assert_shape(h_n, (rows, *state_batch, Ho), "h_n", name="h_n")
        assert_shape(c_n, (rows, *state_batch, H), "c_n", name="c_n")
        if form == Form.UNBATCHED:
            h_n, c_n = h_n.unsqueeze(1), c_n.unsqueeze(1)
        devices = (output.device, h_n.device, c_n.device)
        if devices != (CPU,) * 3:  # differentiably: gradients flow back to the device
            output, h_n, c_n = (t.to(CPU) for t in (output, h_n, c_n))
        for what, t, dims in (("output", output, OUTPUT_DIMS), ("h_n", h_n, STATE_DIMS),
                              ("c_n", c_n, STATE_DIMS)):
            assert_finite(t.detach(), what, dims)  # check "finite"
        return Result(output=output, h_n=h_n, c_n=c_n, raw=raw, devices=devices)
