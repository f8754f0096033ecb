"""Defects of the module contract: exact on every plain call, wrong as a PyTorch module.

Each is written from a bug report of a real project, not from the check that catches it:
a kernel that reads a raw pointer, an inference-only fast path, a frozen-weights shortcut,
a prepacked weight cache, a chunked backward kernel, dropout written by hand, a lenient
loader, weights saved in a kernel's layout, parameters captured at construction, a
folded GEMM, an output buffer reused by a replayed graph. ``MODULE_DEFECTS`` in
``tests/defects/__init__.py`` lists them; a test holds them to passing every check the
suite had before the module contract, run as those checks ran then (dense tensors, calls
with grad, nothing frozen).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.module import _IncompatibleKeys

from .base import ReferenceLSTM
from .declare import (
    DROPOUT_FRESH,
    DROPOUT_SCALE,
    EMPTY_BATCH,
    FROZEN_INPUT,
    GRAD_MODE,
    GRADIENT_LOST,
    GRADIENTS_AT_SCALE,
    INFERENCE_THEN_TRAIN,
    OUTPUT_OVERWRITTEN,
    PARAMETER_IDENTITY,
    STATE_DICT_KEYS,
    STRICT_LOADING,
    STRIDED,
)


def _dense_strides(shape) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _as_dense(t: torch.Tensor) -> torch.Tensor:
    """What a kernel that takes ``t.data_ptr()`` and assumes dense strides reads."""
    return torch.as_strided(t, t.shape, _dense_strides(t.shape), t.storage_offset())


class InputReadWithDenseStrides(ReferenceLSTM):
    """The input is read from its data pointer as if it were contiguous.

    Bug: a fused kernel takes ``input.data_ptr()`` and walks it with the strides of a dense
    tensor (real: pytorch/pytorch#345, RNN results wrong for non-contiguous input). A
    transposed batch reads its elements in the wrong order, a slice of wider features
    reads the features next to it. Caught by strided-views; any other check whose drawn
    case is a view fails too (matches-oracle, ...), but none did before the layout was
    drawn.
    """

    catches = {"strided-views": STRIDED}
    hint = "strided"

    def canonical(self, input, hx):
        if isinstance(input, torch.Tensor):
            input = _as_dense(input)
        return super().canonical(input, hx)


class StateReadWithDenseStrides(ReferenceLSTM):
    """(h0, c0) are read from their data pointers as if they were contiguous.

    Bug: the kernel's state arguments are raw pointers with dense strides assumed; an
    initial state that is a view (a transposed buffer, or a learned state expanded over
    the batch with stride 0) is read wrong or out of its bounds (real: unit8co/darts#730,
    an expanded learned hx). Caught by strided-views.
    """

    catches = {"strided-views": STRIDED}
    hint = "strided"

    def canonical(self, input, hx):
        if hx is not None:
            hx = tuple(_as_dense(s) for s in hx)
        return super().canonical(input, hx)


class ApproximateInferencePath(ReferenceLSTM):
    """Under ``torch.inference_mode()``, tanh is a fast rational approximation.

    Bug: an inference-only fused path (taken under ``torch.inference_mode()``, where no
    backward can follow, as serving code calls a model) uses approximate activations: the
    Pade tanh x(27 + x^2)/(27 + 9x^2), clipped, off by up to 2e-2. Every check that calls
    with grad or under no_grad sees the exact path. Caught by grad-modes.
    """

    catches = {"grad-modes": GRAD_MODE}
    hint = "grad-mode"

    def tanh(self, z):
        if not torch.is_inference_mode_enabled():
            return torch.tanh(z)
        z2 = z * z
        return (z * (27 + z2) / (27 + 9 * z2)).clamp(-1.0, 1.0)


class FrozenWeightsRunWithoutGrad(ReferenceLSTM):
    """When no parameter requires grad, the forward pass runs under ``torch.no_grad()``.

    Bug: "nothing to train, so no graph" forgets that the input may require grad (real:
    pytorch/pytorch#7722, the gradient to the input lost when the LSTM's weights are
    frozen, as in fine-tuning behind a frozen encoder). Caught by grad-modes and by
    gradients (their cases now freeze some or all weights).
    """

    catches = {"grad-modes": FROZEN_INPUT, "gradients": GRADIENT_LOST}
    hint = "frozen-weights"

    def forward(self, input, hx=None):
        if any(p.requires_grad for p in self.parameters()):
            return super().forward(input, hx)
        with torch.no_grad():
            return super().forward(input, hx)


class InferenceTensorCached(ReferenceLSTM):
    """The zero initial state (hx=None) is made once per shape and reused, even when it
    was made under ``torch.inference_mode()``.

    Bug: a zeros cache filled under inference_mode holds an inference tensor; the next
    call with grad cannot save it for backward and raises "Inference tensors cannot be
    saved for backward" (real: open-mmlab/mmsegmentation#3499, a model validated under
    inference_mode and then trained). Made under no_grad, the cache is harmless. Caught by
    grad-modes.
    """

    catches = {"grad-modes": INFERENCE_THEN_TRAIN}
    hint = "grad-mode"

    def initial_state(self, x, hx):
        if hx is not None:
            return super().initial_state(x, hx)
        zeros = self.__dict__.setdefault("_zeros", {})
        key = (x.shape[1], x.dtype)
        if key not in zeros:
            zeros[key] = super().initial_state(x, None)
        return zeros[key]


class GradientWindowOf64Steps(ReferenceLSTM):
    """The weight gradient only sums the last 64 time steps.

    Bug: the backward kernel works through time in windows of 64 steps and accumulates the
    weight gradient of the last window only (real: apache/mxnet#18203, a backward-only
    bug of a fused RNN kernel; the forward pass and the input's gradient are exact).
    Sequences of at most 8 steps never show it. Caught by gradients-at-scale.
    """

    catches = {"gradients-at-scale": GRADIENTS_AT_SCALE}
    hint = "gradient-at-scale"

    WINDOW = 64

    def scan(self, x, h, c, w):
        outs, hs, cs = [], [h], [c]
        L = x.shape[0]
        detached = {k: None if v is None else v.detach() for k, v in w.items()}
        for t in range(L):
            wt = w if t >= L - self.WINDOW else detached
            z = self.preactivation(x[t], h, wt)
            i, f, g, o = self.gates(z)
            c = self.cell(c, i, f, g)
            h_cell = self.hidden(o, c)
            out = self.project(h_cell, wt["w_hr"])
            h = self.recurrent(out, h_cell)
            outs.append(out)
            hs.append(out)
            cs.append(c)
        return outs, hs, cs


class DropoutWithoutRescale(ReferenceLSTM):
    """Dropout multiplies by a Bernoulli mask and forgets the 1/(1-p) scale.

    Bug: hand-written dropout ``x * bernoulli(1 - p)`` (real: kaldi-asr/kaldi#2815, the
    scale missing from an LSTM's dropout). Where dropout acts, everything the structural
    dropout checks look at still holds. Caught by dropout-distribution.
    """

    catches = {"dropout-distribution": DROPOUT_SCALE}
    hint = "dropout-distribution"

    def between_layers(self, x, layer):
        c = self.config
        if layer < c.num_layers - 1 and c.dropout > 0 and self.training:
            return x * torch.bernoulli(torch.full_like(x, 1.0 - c.dropout))
        return x


class DropoutMaskDrawnOnce(ReferenceLSTM):
    """The dropout mask is drawn at the first training call and reused for that shape.

    Bug: the mask is created with the layer's buffers and never redrawn (real:
    PaddlePaddle/Paddle#7796, the same dropout mask at every step of training). Kept
    fraction and scale are right. Caught by dropout-distribution.
    """

    catches = {"dropout-distribution": DROPOUT_FRESH}
    hint = "dropout-distribution"

    def between_layers(self, x, layer):
        c = self.config
        if not (layer < c.num_layers - 1 and c.dropout > 0 and self.training):
            return x
        masks = self.__dict__.setdefault("_masks", {})
        key = (layer, tuple(x.shape), x.dtype)
        if key not in masks:
            masks[key] = F.dropout(torch.ones_like(x), c.dropout, True)
        return x * masks[key]


class LenientLoader(ReferenceLSTM):
    """load_state_dict copies the keys it knows and ignores the rest, strict or not.

    Bug: a custom loader that never raises (real: pytorch/executorch#2191, a checkpoint
    half loaded without a word). Caught by state-dict.
    """

    catches = {"state-dict": STRICT_LOADING}
    hint = "state-dict"

    def load_state_dict(self, state_dict, strict=True, assign=False):
        own = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in state_dict.items():
                if name in own and own[name].shape == value.shape:
                    own[name].copy_(value)
        return _IncompatibleKeys([], [])


class StateDictInKernelLayout(ReferenceLSTM):
    """state_dict() saves the weight matrices transposed, in the kernel's layout.

    Bug: a port that keeps its weights the way its kernel reads them (input-major) and
    translates only when loading: a checkpoint it saves loads into none of nn.LSTM, itself
    or anything else without a conversion (real: the notes' StackedLSTM saved its layers'
    own names until this round). Caught by state-dict.
    """

    catches = {"state-dict": STATE_DICT_KEYS}
    hint = "state-dict"

    def state_dict(self, *args, **kwargs):
        saved = super().state_dict(*args, **kwargs)
        for name, value in saved.items():
            if name.startswith("weight_"):
                saved[name] = value.t()
        return saved


class ParametersCapturedAtConstruction(ReferenceLSTM):
    """The forward pass reads the Parameter objects it captured when it was built.

    Bug: ``self._captured = dict(self.named_parameters())`` at construction; loading and
    optimizer steps change those objects in place, so every ordinary use works, but a
    weight replaced by a new Parameter, reparametrized or pruned is never seen (real:
    pytorch/pytorch#33618, RNN flat weights stale after pruning). Caught by
    parameter-identity.
    """

    catches = {"parameter-identity": PARAMETER_IDENTITY}
    hint = "parameter-identity"

    def weights(self, layer, suffix):
        captured = self.__dict__.setdefault("_captured", dict(self._parameters))
        name = f"l{layer}{suffix}"
        return {
            "w_ih": captured[f"weight_ih_{name}"],
            "w_hh": captured[f"weight_hh_{name}"],
            "b_ih": captured.get(f"bias_ih_{name}"),
            "b_hh": captured.get(f"bias_hh_{name}"),
            "w_hr": captured.get(f"weight_hr_{name}"),
        }


class EmptyBatchInTiles(ReferenceLSTM):
    """The batch is run in tiles of at most 64 sequences, concatenated afterwards.

    Bug: ``torch.cat([run(tile) for tile in tiles])``: a batch of 0 has no tile, and
    concatenating nothing raises (real: tensorflow#2127 and ROCm/pytorch#1388, RNNs that
    fail on an empty batch, which nn.LSTM answers with empty results; a batch-tiled kernel
    fails the same way). Caught by empty-batch.
    """

    catches = {"empty-batch": EMPTY_BATCH}
    hint = "empty-batch"

    TILE = 64

    def layers(self, x, h0, c0, lengths):
        parts = []
        for s in range(0, x.shape[1], self.TILE):
            tile = slice(s, s + self.TILE)
            parts.append(super().layers(x[:, tile], h0[:, tile], c0[:, tile],
                                        None if lengths is None else lengths[tile]))
        output, h_n, c_n = zip(*parts, strict=True)
        return torch.cat(output, 1), torch.cat(h_n, 1), torch.cat(c_n, 1)


class OutputBufferReused(ReferenceLSTM):
    """Without grad, the output is written into a static buffer per shape and returned.

    Bug: an inference path replays a captured graph whose output lives in a static buffer;
    the caller gets that buffer, which the next call overwrites (real: pytorch/pytorch#104435,
    outputs of a CUDA-graph replay overwritten by the next run). Every value is right when
    it is returned. Caught by output-ownership.
    """

    catches = {"output-ownership": OUTPUT_OVERWRITTEN}
    hint = "output-ownership"

    def forward(self, input, hx=None):
        output, state = super().forward(input, hx)
        if torch.is_grad_enabled() or not isinstance(output, torch.Tensor):
            return output, state
        buffers = self.__dict__.setdefault("_static", {})
        key = (tuple(output.shape), output.dtype)
        if key not in buffers:
            with torch.inference_mode(False):
                buffers[key] = torch.empty_like(output, device=output.device)
        buffers[key].copy_(output)
        return buffers[key], state
