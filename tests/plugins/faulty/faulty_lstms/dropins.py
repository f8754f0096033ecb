"""Drop-in classes (``nn.LSTM`` subclasses) with one fault each."""

from __future__ import annotations

import os
import signal
import time

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


class RaisesInForward(nn.LSTM):
    def forward(self, input, hx=None):
        raise RuntimeError("faulty-raise: the fused kernel exploded")


class HangsInForward(nn.LSTM):
    def forward(self, input, hx=None):
        time.sleep(3600)


class AbortsInForward(nn.LSTM):
    def forward(self, input, hx=None):
        os.abort()


class AbortsWithoutBias(nn.LSTM):
    """Correct, but the process dies (a native crash) on any call with bias=False."""

    def forward(self, input, hx=None):
        if not self.bias:
            os.abort()
        return super().forward(input, hx)


class SegfaultsWithoutBias(nn.LSTM):
    """Correct, but the process dies of SIGSEGV (as Paddle's LSTM does) on any call with
    bias=False."""

    def forward(self, input, hx=None):
        if not self.bias:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().forward(input, hx)


class ReturnsNaN(nn.LSTM):
    """Right structure and shapes, NaN everywhere."""

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        nan = float("nan")
        if isinstance(output, PackedSequence):
            output = output._replace(data=torch.full_like(output.data, nan))
        else:
            output = torch.full_like(output, nan)
        return output, (torch.full_like(h_n, nan), torch.full_like(c_n, nan))


class ReturnsList(nn.LSTM):
    """Returns [output, h_n, c_n] instead of (output, (h_n, c_n))."""

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        return [output, h_n, c_n]


class FailsToConstruct(nn.LSTM):
    def __init__(self, *args, **kwargs):
        raise TypeError("cannot build FailsToConstruct: its native extension is missing")


#: An entry point may name anything; this one names an int.
NOT_AN_LSTM = 42


class WrongForSomeShapes(nn.LSTM):
    """c_n off by 1e-3 whenever hidden_size >= 3. With ``FAULTY_NARROW_SHAPE="H,I,T"`` in
    the environment, only for exactly hidden_size H, input_size I and T time steps: a bug
    that random cases rarely hit, so finding it again takes a replayed counterexample."""

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        if isinstance(input, PackedSequence):
            steps = len(input.batch_sizes)
        else:
            steps = input.shape[1] if input.dim() == 3 and self.batch_first else input.shape[0]
        shape = os.environ.get("FAULTY_NARROW_SHAPE")
        if shape:
            wrong = (self.hidden_size, self.input_size, steps) == tuple(map(int, shape.split(",")))
        else:
            wrong = self.hidden_size >= 3
        return output, (h_n, c_n + 1e-3 if wrong else c_n)


class DeclaresGaps(nn.LSTM):
    """Correct (it is nn.LSTM), but declares two capabilities unsupported."""

    lstm_conformance_unsupported = frozenset({"packed", "proj_size"})


class SegfaultsInForward(nn.LSTM):
    """A native crash: reads address 0 (SIGSEGV) on every call."""

    def forward(self, input, hx=None):
        import ctypes

        ctypes.string_at(0)


class SegfaultsAsDeclared(SegfaultsInForward):
    """The same crash, declared a known failure of output-shapes (as an adapter declares a
    framework's native fault it reproduced): the crash is that known failure."""

    lstm_conformance_known_failures = {
        "output-shapes": "segfaults on every call (a seeded native fault)"}


class ExitsInForward(nn.LSTM):
    """Native code that calls exit(3) instead of raising: the process ends, no signal."""

    def forward(self, input, hx=None):
        os._exit(3)


class SegfaultsUnderItsOwnHandler(nn.LSTM):
    """A framework that installs its own SIGSEGV handler (as Paddle does) in place of
    faulthandler's, then segfaults: the process dies of the signal, but faulthandler's
    report never comes. (Here the handler is the default action.)"""

    def forward(self, input, hx=None):
        import ctypes
        import signal

        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        ctypes.string_at(0)


_CALLED_IN_THIS_PROCESS = False


class AbortsOnFirstCallOfAProcess(nn.LSTM):
    """Correct, but the first call in each process aborts it (a lazy native initialisation
    that crashes): every check of it crashes in its fresh worker."""

    def forward(self, input, hx=None):
        global _CALLED_IN_THIS_PROCESS
        if not _CALLED_IN_THIS_PROCESS:
            _CALLED_IN_THIS_PROCESS = True
            os.abort()
        return super().forward(input, hx)


class HangsWithADeclaredLimit(nn.LSTM):
    """Hangs in every call; declares that each of its checks needs at most 4 s."""

    lstm_conformance_timeout = 4

    def forward(self, input, hx=None):
        time.sleep(3600)


class HangsWhenBidirectional(nn.LSTM):
    """Correct, but hangs on every bidirectional call: the timeout costs the checks whose
    cases reach bidirectional, never the others."""

    def forward(self, input, hx=None):
        if self.bidirectional:
            time.sleep(3600)
        return super().forward(input, hx)
