"""PyTorch's dynamic quantization of ``nn.LSTM``, as lstm-conformance drop-in implementations.

Two implementations, registered in the entry-point group ``lstm_conformance.implementations``:

* ``dynamic-int8``: ``torch.ao.quantization.quantize_dynamic(..., {nn.LSTM}, dtype=torch.qint8)``.
  Weights are quantized to int8 once, per tensor (``default_dynamic_qconfig``); at every
  matrix product the activations (x_t, h_{t-1}) are quantized to uint8 *dynamically*, with a
  scale and zero point computed from the min/max of the whole activation tensor of that call
  (every batch element at once), and the gates are computed in float.
* ``dynamic-float16``: the same with ``dtype=torch.float16``: weights are stored as float16
  (``linear_prepack_fp16``), activations stay float32.

What the adapter does, and no more (``tests/test_mapping.py`` proves the results are bitwise
those of ``quantize_dynamic`` applied by hand):

1. It holds float parameters under ``nn.LSTM``'s names and shapes, so ``load_state_dict``,
   ``state_dict``, ``named_parameters`` and ``.to(dtype)`` behave as on ``nn.LSTM``.
2. On a call it copies them into a plain float ``nn.LSTM`` and quantizes that with
   ``quantize_dynamic``. The quantized module is cached, keyed on the bytes of the weights
   (and their dtype), so it is rebuilt whenever the weights change by any route
   (``load_state_dict``, in-place edits, ``.to``) and reused otherwise.
3. It sets the quantized module's ``training`` flag from its own (``torch.quantized_lstm``
   applies dropout between layers in training mode, like ``nn.LSTM``) and calls it with the
   caller's input and ``hx`` unchanged.

Why the ``nn.Sequential`` wrapper: ``quantize_dynamic`` swaps *children* only
(``torch.ao.quantization.quantize._convert`` iterates ``named_children()``), so applied to a
bare ``nn.LSTM`` it returns an unquantized deep copy: float results, silently. Wrapping the
LSTM in a one-element container is how it gets quantized at all (``tests/test_gaps.py``
shows the no-op).

Nothing is papered over: input forms the quantized module rejects are passed to it and
rejected by it (2-D unbatched input raises "input must have 3 dimensions"), and its
exception types for malformed input are its own. The gaps are declared in
``lstm_conformance_unsupported``; configurations ``quantize_dynamic`` cannot build
correctly (``proj_size > 0``, ``bias=False``) raise ``NotImplementedError`` at construction,
which the suite reads as "not supported". The README has the evidence for each.
"""

from __future__ import annotations

import hashlib
import warnings

import torch
from torch import nn
from torch.ao.quantization import quantize_dynamic

__all__ = ["DynamicFloat16LSTM", "DynamicInt8LSTM", "DynamicQuantizedLSTMBase", "quantize"]

#: What both quantized modules cannot do; the evidence is in README.md ("Declared gaps") and
#: tests/test_gaps.py.
#:
#: * ``proj_size``: ``from_float`` ignores the projection (it builds the quantized LSTM
#:   without ``proj_size`` and never reads ``weight_hr``); the first call fails in the
#:   packed matmul ("The number of rows in the packB should be equal to K" for int8,
#:   "packed_weight_fp16.numRows()" for float16).
#: * ``no_bias``: ``from_float`` asserts "mod.bias must be True".
#: * ``unbatched``: the quantized module rejects 2-D input ("input must have 3 dimensions").
#: * ``float64``: the quantized kernels take float32 only ("expected scalar type Float but
#:   found Double"), whatever the float module's dtype was.
#: * ``autograd``: no gradient reaches the input, the initial state or the weights (the
#:   weights are packed, opaque tensors; ``autograd.grad`` w.r.t. the input reports it
#:   "not used in the graph").
#: * ``input_validation``: 1-D input raises IndexError and 4-D input RuntimeError where
#:   ``nn.LSTM`` raises ValueError("LSTM: Expected input to be 2D or 3D, ...").
UNSUPPORTED = frozenset(
    {"proj_size", "no_bias", "unbatched", "float64", "float16", "bfloat16", "autograd",
     "input_validation"}
)  # float16 / bfloat16 input: "expected scalar type Float but found Half" (and BFloat16)

# Elementwise |quantized - reference| <= atol + rtol * |reference| for output, h_n and c_n,
# with atol meant to be scaled by max(1, magnitude / 16) as spec.tolerance.forward scales
# its own. Measured by tools/measure.py over 3000 configurations of the suite's sizes
# (README.md, "Declared tolerance"): largest scaled error 0.130 (int8) and 4.2e-3
# (float16): about 2x headroom; rtol 0 because the error does not grow with |c| over
# the range c takes.
INT8_TOLERANCE = {"float32": {"atol": 0.25, "rtol": 0.0}}
FLOAT16_TOLERANCE = {"float32": {"atol": 1e-2, "rtol": 0.0}}

# torch.ao.quantization announces its deprecation on every quantize_dynamic call, and
# creating quantized tensors warns about the same migration: noise for every case the suite
# runs. Only these two messages are silenced.
_NOISE = (
    r"torch\.ao\.quantization is deprecated",
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
)

_DROPOUT_ONE_LAYER = r"dropout option adds dropout after all but last recurrent layer"


def quantize(lstm: nn.LSTM, dtype: torch.dtype) -> nn.Module:
    """``quantize_dynamic`` of ``lstm`` with weights of ``dtype`` (torch.qint8 or
    torch.float16): the quantized LSTM module, ``lstm`` itself left alone.

    ``lstm`` is wrapped in ``nn.Sequential`` because ``quantize_dynamic`` only swaps
    children: on a bare ``nn.LSTM`` it would return a float copy.
    """
    with warnings.catch_warnings():
        for message in _NOISE:
            warnings.filterwarnings("ignore", message=message)
        return quantize_dynamic(nn.Sequential(lstm), {nn.LSTM}, dtype=dtype)[0]


class DynamicQuantizedLSTMBase(nn.Module):
    """A drop-in ``nn.LSTM`` whose forward pass is ``quantize_dynamic``'s quantized LSTM.

    Subclasses set ``weight_dtype`` (torch.qint8 or torch.float16).
    """

    weight_dtype: torch.dtype
    lstm_conformance_unsupported = UNSUPPORTED
    lstm_conformance_tolerance: dict
    lstm_conformance_framework = f"torch {torch.__version__} (torch.ao dynamic quantization)"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if proj_size:
            raise NotImplementedError(
                "dynamic quantization of nn.LSTM ignores proj_size: the quantized module has "
                "no projection and fails at its first call"
            )
        if not bias:
            raise NotImplementedError(
                "dynamic quantization of nn.LSTM needs bias=True (from_float asserts it)"
            )
        # nn.LSTM itself validates the keywords (dropout range, sizes) and gives the
        # parameters their names, shapes and default initialisation.
        template = nn.LSTM(
            input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, proj_size=proj_size,
            device=device, dtype=dtype,
        )
        self._kwargs = dict(
            input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, bias=bias,
            batch_first=batch_first, dropout=dropout, bidirectional=bidirectional,
            proj_size=proj_size,
        )
        for name, param in template.named_parameters():
            self.register_parameter(name, nn.Parameter(param.detach().clone()))
        self._weight_names = [name for name, _ in template.named_parameters()]
        self._cache_key: str | None = None
        self._quantized: nn.Module | None = None

    def effective_weights(self) -> dict[str, torch.Tensor]:
        """nn.LSTM's weights as this module computes with them now: read by attribute, so a
        parametrization (``parametrize``, ``prune``) or a reassigned Parameter counts, not
        the raw tensors ``named_parameters`` holds under other names then."""
        return {name: getattr(self, name) for name in self._weight_names}

    def _weights_key(self) -> str:
        """A digest of every weight's name, device, dtype, shape and bytes: the cache key."""
        digest = hashlib.sha256()
        for name, param in self.effective_weights().items():
            data = param.detach().cpu().contiguous()
            digest.update(f"{name}:{param.device}:{data.dtype}:{tuple(data.shape)};".encode())
            digest.update(data.view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def quantized_module(self) -> nn.Module:
        """The quantized LSTM for the current weights: built from a float ``nn.LSTM`` loaded
        with them, and cached until they change."""
        key = self._weights_key()
        if self._quantized is None or key != self._cache_key:
            weights = self.effective_weights()
            first = next(iter(weights.values()))
            with warnings.catch_warnings():
                # The constructor already gave nn.LSTM's warning about dropout with one
                # layer; the float copy and the quantized module would repeat it each time.
                warnings.filterwarnings("ignore", message=_DROPOUT_ONE_LAYER)
                float_lstm = nn.LSTM(**self._kwargs, device=first.device, dtype=first.dtype)
                with torch.no_grad():
                    float_lstm.load_state_dict({name: w.detach() for name, w in weights.items()})
                quantized = quantize(float_lstm, self.weight_dtype)
            # object.__setattr__: the cached module must not become a registered child, or
            # it would appear in state_dict() and named_modules() under foreign names.
            object.__setattr__(self, "_quantized", quantized)
            self._cache_key = key
        return self._quantized

    def forward(self, input, hx=None):
        """``nn.LSTM``'s call, computed by the quantized module exactly as it computes it."""
        module = self.quantized_module()
        module.train(self.training)
        return module(input, hx)

    def extra_repr(self) -> str:
        kw = ", ".join(f"{k}={v}" for k, v in self._kwargs.items())
        return f"{kw}, weights={self.weight_dtype}"


class DynamicInt8LSTM(DynamicQuantizedLSTMBase):
    """``quantize_dynamic(nn.LSTM, {nn.LSTM}, dtype=torch.qint8)``: int8 weights (per-tensor
    scale), activations quantized to uint8 per call with a per-tensor scale."""

    weight_dtype = torch.qint8
    lstm_conformance_tolerance = INT8_TOLERANCE


class DynamicFloat16LSTM(DynamicQuantizedLSTMBase):
    """``quantize_dynamic(nn.LSTM, {nn.LSTM}, dtype=torch.float16)``: float16 weights,
    float32 activations."""

    weight_dtype = torch.float16
    lstm_conformance_tolerance = FLOAT16_TOLERANCE
