"""``torch-compile``: nn.LSTM under ``torch.compile`` (backend inductor, RNNs allowed).

By default dynamo refuses to trace RNN modules and runs them eagerly (a graph break).
With ``torch._dynamo.config.allow_rnn = True`` it traces ``nn.LSTM.forward`` into one
FX graph around ``aten.lstm``; AOTAutograd and **inductor** (``BACKEND``, the backend
that runs here, on CPU with its C++ code generation) compile it. On CPU, float32
``aten.lstm`` is lowered to oneDNN's ``mkldnn_rnn_layer``; float64 is decomposed.

Making sure it compiles rather than silently running eagerly:

* ``fullgraph=True``: a graph break raises instead of running the broken part eagerly;
* ``fail_on_recompile_limit_hit=True`` with a high ``recompile_limit``: dynamo keeps one
  cache per code object, shared by every ``nn.LSTM``; after 8 recompilations it would
  otherwise fall back to eager without telling anyone. Here it raises.
* ``COMPILES`` counts the graphs dynamo compiled for this adapter (from
  ``torch._dynamo.utils.counters["stats"]["unique_graphs"]``); the tests check that it
  grows on a first call and that inductor's own counters moved, and that a float64
  result's ``grad_fn`` is AOTAutograd's ``CompiledFunctionBackward``.

The options are set with ``torch._dynamo.config.patch`` around each call, so importing
this module changes no global configuration.

Caching is dynamo's own: its guards are the cache key. Under the default
``inline_inbuilt_nn_modules`` the parameters are graph inputs, so updating weights in
place (``load_state_dict``, an optimizer step) does not recompile and the compiled graph
reads the new values (tests/test_prepare_counts.py checks both). dtype, train/eval, grad
mode, the input's shape and rank and the presence of ``hx`` are guarded: a change
recompiles.

Declared gap: ``packed``. Dynamo cannot trace nn.LSTM on a PackedSequence: the packed
``aten.lstm.data`` needs ``batch_sizes`` values at trace time ("Could not guard on
data-dependent expression", https://github.com/pytorch/pytorch/issues/112044); without
``fullgraph`` it would run eagerly, i.e. not be compiled at all. ``forward`` raises
``NotImplementedError`` for it.

Known upstream failure: float32 with autograd enabled, parameters that require grad and
an input that does not (every training call, and most calls the suite makes) fails in
oneDNN's path with
``TypeError: expected Tensor() for op: torch.ops.aten.mkldnn_rnn_layer.default``
(https://github.com/pytorch/pytorch/issues/158007, still present in torch 2.13.0;
tests/test_findings.py::test_compile_float32_autograd_fails). Under ``torch.no_grad()``
float32 compiles and agrees with eager, and with an input that requires grad (as in the
``gradients`` check, which passes) it compiles and runs backward.

Known failure of another cause, ``bad-input-raises``: under ``fullgraph=True`` dynamo
raises its ``Unsupported`` ("Observed exception") where nn.LSTM raises ValueError for a 1-D
or 4-D input, in every grad mode
(tests/test_findings.py::test_compile_fullgraph_wraps_nn_lstm_value_error).
"""

from __future__ import annotations

import torch
import torch._dynamo
from torch._dynamo.utils import counters
from torch.nn.utils.rnn import PackedSequence

from ._base import PrepareCounter, TransformedLSTM

BACKEND = "inductor"

#: Graphs dynamo compiled for this adapter, across all instances.
COMPILES = PrepareCounter()

_ISSUE_158007 = "https://github.com/pytorch/pytorch/issues/158007"
_F32_AUTOGRAD = (
    "float32 with autograd fails under torch.compile with allow_rnn when the input does not "
    "require grad (the parameters do): TypeError 'expected "
    f"Tensor() for op: torch.ops.aten.mkldnn_rnn_layer.default' ({_ISSUE_158007})"
)

_EMPTY_BATCH = (
    "a float32 batch of 0 sequences kills the process with SIGFPE under torch.compile "
    "(inductor and aot_eager alike; dynamo's eager backend and float64, which is "
    "decomposed, answer it): oneDNN's mkldnn_rnn_layer path, with or without grad; no "
    "upstream issue found (the like for mkldnn linear: "
    "https://github.com/pytorch/pytorch/issues/101211)"
)

_WRAPPED_VALUE_ERROR = (
    "1-D or 4-D input: with fullgraph=True dynamo raises torch._dynamo.exc.Unsupported "
    "('Observed exception') where nn.LSTM raises ValueError, in every grad mode (the "
    "ValueError is in its cause); no upstream issue found"
)

_DYNAMO_OPTIONS = dict(
    allow_rnn=True,
    recompile_limit=100_000,
    accumulated_recompile_limit=100_000,
    fail_on_recompile_limit_hit=True,
)


class CompiledLSTM(TransformedLSTM):
    """``torch.compile(nn.LSTM(...), backend="inductor", fullgraph=True)`` with RNNs allowed."""

    lstm_conformance_unsupported = frozenset({"packed"})
    lstm_conformance_known_failures = {
        # Filled in from the ci-profile run: every invariant whose cases include a float32
        # call. See README "Findings".
        invariant: _F32_AUTOGRAD
        for invariant in (
            "output-shapes", "last-step-forward", "first-step-backward", "stacked-layers",
            "batch-first", "matches-oracle", "cell-state-consistency", "time-reversal",
            "batch-independence", "batch-permutation", "causality", "state-continuation",
            "hx-none-is-zeros", "unbatched-is-batch-of-one", "dropout-eval",
            "dropout-train-structure", "zero-weights", "gate-probe", "bounds",
            "no-mutation", "determinism",
            # the same error in the checks added since (quick run of 2026-12-02)
            "block-boundaries", "strided-views", "grad-modes", "dropout-distribution",
            "state-dict", "parameter-identity", "output-ownership",
        )
    } | {
        # other causes (tests/test_findings.py reproduces each): the process dies; the
        # exception type
        "empty-batch": _EMPTY_BATCH,
        "bad-input-raises": _WRAPPED_VALUE_ERROR,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_out_of_tree("_twin", self.make_eager_twin())
        self.keep_out_of_tree(
            "_compiled", torch.compile(self._twin, backend=BACKEND, fullgraph=True)
        )

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            raise NotImplementedError(
                "torch.compile cannot trace nn.LSTM on a PackedSequence (data-dependent "
                "batch_sizes, https://github.com/pytorch/pytorch/issues/112044)"
            )
        self._twin.train(self.training)
        before = counters["stats"]["unique_graphs"]
        try:
            with torch._dynamo.config.patch(**_DYNAMO_OPTIONS):
                return self._compiled(input, hx)
        finally:
            COMPILES.count += counters["stats"]["unique_graphs"] - before
