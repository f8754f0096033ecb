"""``torchscript``: a host module around ``torch.jit.script(nn.LSTM(...))``.

A scripted nn.LSTM cannot be called like the module it came from: nn.LSTM's ``forward``
is overloaded (Tensor or PackedSequence input), TorchScript compiles the overloads as
``forward__0`` and ``forward__1`` and the script module has no ``forward`` at all
(``AttributeError``; https://github.com/pytorch/pytorch/issues/32976,
https://github.com/pytorch/pytorch/issues/56183). The host does the dispatch eager
Python does: a PackedSequence goes to ``forward__1``, anything else to ``forward__0``.

``forward__1`` returns TorchScript's PackedSequence look-alike
(``torch._jit_internal.PackedSequence``, a namedtuple that is not an
``nn.utils.rnn.PackedSequence``; https://github.com/pytorch/pytorch/issues/43873). The
host rebuilds a real PackedSequence from its four fields, unchanged; this is part of
hosting (without it no caller can ``pad_packed_sequence`` the result) and is shown as a
finding in tests/test_findings.py.

Everything else is passed through as the scripted module returns or raises it. In
particular nn.LSTM's ``ValueError`` for 1-D/4-D input (and the dtype check) is raised
inside the TorchScript interpreter and surfaces as ``torch.jit.Error`` (a
RuntimeError): the interpreter rethrows every exception as one
(https://github.com/pytorch/pytorch/issues/54612). That fails ``bad-input-raises`` and
is declared as a known failure.

The scripted module is scripted once, from the eager twin (it shares this module's
Parameter objects, see ``_base``), so it reads the current weights on every call and
needs no cache. Its training flag follows the host's on each call.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence

from ._base import TransformedLSTM

_ISSUE_54612 = "https://github.com/pytorch/pytorch/issues/54612"


class ScriptedLSTM(TransformedLSTM):
    """nn.LSTM's forward run by the TorchScript interpreter."""

    lstm_conformance_known_failures = {
        "bad-input-raises": (
            "nn.LSTM's ValueError for 1-D/4-D input is raised inside the TorchScript "
            f"interpreter and surfaces as torch.jit.Error, a RuntimeError ({_ISSUE_54612})"
        ),
        "parameter-identity": (
            "torch.jit.script keeps the Parameter objects the module had when it was "
            "scripted: a weight replaced by a new nn.Parameter, reparametrized or pruned on "
            "the eager module afterwards is not what the scripted module computes with "
            "(tests/test_findings.py::test_script_keeps_the_parameters_it_was_scripted_with)"
        ),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_out_of_tree("_scripted", torch.jit.script(self.make_eager_twin()))

    def forward(self, input, hx=None):
        if self._scripted.training != self.training:
            self._scripted.train(self.training)
        if isinstance(input, PackedSequence):
            output, state = self._scripted.forward__1(input, hx)
            return PackedSequence(*output), state
        return self._scripted.forward__0(input, hx)
