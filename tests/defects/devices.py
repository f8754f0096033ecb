"""Defects of the device contract and of production sizes.

Written from the bug reports the two chapters cite: a module that takes inputs from
another device without a word (the host-device copies it hides, and the wrong results
of pytorch#94754 and #95118 where tensors and module disagree), results made on the
default device (no ``device=``), ROCm's LSTM wrong for batches above about 100 to 500
(pytorch#177834), cuDNN's failing past 65,535 steps (pytorch#133751).

They are not in ``DEFECTS``: the device defects are caught only with a module on a device
besides the CPU (``tests/test_devices.py`` runs them on the ``meta`` device, where
torch computes shapes and devices but no values, which is all their checks read), and the
size defects only by the ``stress`` profile, which the rest of the tests never run.
"""

from __future__ import annotations

import torch

from .base import ReferenceLSTM
from .declare import Caught

#: Where a kernel's batch index wraps (an 8-bit block index), where a 16-bit step counter
#: does, and how many hidden units of W_hh fit where a kernel keeps them.
BATCH_WRAP, STEP_WRAP, RESIDENT_UNITS = 256, 65536, 1024

PLACEMENT = Caught(check="device-placement")
MISMATCH = Caught(check="device-mismatch-accepted")
AT_PRODUCTION_SIZE = Caught(check="oracle-at-production-size")


class InputMovedToParameters(ReferenceLSTM):
    """Input and (h0, c0) are moved to the parameters' device without a word.

    Bug: ``x = x.to(self.weight_ih_l0.device)`` at the top of forward: a caller with
    tensors on the wrong device gets an answer and a host-device copy on every call
    instead of nn.LSTM's RuntimeError. Caught by device-mismatch-refused (on a device
    besides the CPU).
    """

    catches = {"device-mismatch-refused": MISMATCH}

    def canonical(self, input, hx):
        device = self.weight_ih_l0.device
        input = input.to(device)
        hx = None if hx is None else tuple(s.to(device) for s in hx)
        return super().canonical(input, hx)


class EmptyBatchOnDefaultDevice(ReferenceLSTM):
    """A batch of none is answered with empty tensors made on the default device.

    Bug: an early return ``torch.zeros(L, 0, D * H_out)`` without ``device=``: right on the
    CPU, on the CPU too when the module runs on a device. Caught by device-placement (on a
    device besides the CPU).
    """

    catches = {"device-placement": PLACEMENT}

    def layers(self, x, h0, c0, lengths):
        if x.shape[1] > 0:
            return super().layers(x, h0, c0, lengths)
        c = self.config
        L = x.shape[0]
        return (torch.zeros(L, 0, c.num_directions * c.h_out, dtype=x.dtype),
                torch.zeros(c.state_rows, 0, c.h_out, dtype=x.dtype),
                torch.zeros(c.state_rows, 0, c.hidden_size, dtype=x.dtype))


class BatchIndexWrapsPast256(ReferenceLSTM):
    """Batch columns past 256 read the input of column ``n % 256``.

    Bug: a kernel whose batch block index has 8 bits: from batch 257 on, columns wrap onto
    the first 256 (the class of ROCm's LSTM, wrong by orders of magnitude for batches
    above about 100 and crashing above 500, pytorch#177834). Caught by stress-batch (from
    batch 257); missed by the default profile, whose largest batch is
    ``spec.strategies.BOUNDARY_SIZES['batch'][-1]``.
    """

    catches = {"stress-batch": AT_PRODUCTION_SIZE}

    def preactivation(self, x_t, h, w):
        N = x_t.shape[0]
        if N > BATCH_WRAP:
            x_t = x_t[torch.arange(N, device=x_t.device) % BATCH_WRAP]
        return super().preactivation(x_t, h, w)


class CellResetPast65536Steps(ReferenceLSTM):
    """The cell state restarts at zero after step 65,536.

    Bug: a 16-bit step counter that wraps, so the kernel takes step 65,537 for the first
    and starts it from c = 0 (cuDNN's LSTM fails past 65,535 steps, pytorch#133751).
    Caught by stress-seq-len (at 65,537 steps); missed by every other check, whose longest
    sequence is ``spec.strategies.BOUNDARY_SIZES['seq_len'][-1]``.
    """

    catches = {"stress-seq-len": AT_PRODUCTION_SIZE}

    def scan(self, x, h, c, w):
        if x.shape[0] <= STEP_WRAP:
            return super().scan(x, h, c, w)
        outs, hs, cs = super().scan(x[:STEP_WRAP], h, c, w)
        more, more_h, more_c = super().scan(x[STEP_WRAP:], hs[-1], torch.zeros_like(cs[-1]), w)
        return outs + more, hs + more_h[1:], cs + more_c[1:]


class RecurrencePast1024UnitsDropped(ReferenceLSTM):
    """Hidden units past 1024 get no recurrent term ``W_hh h``.

    Bug: a persistent kernel that keeps the rows of W_hh for 1024 units on chip, and for a
    larger hidden size runs the rest without them (the class of kernels that change paths
    for hidden sizes past their register or shared-memory limits). Caught by
    stress-hidden-size (at hidden_size 1025); missed by every other check, whose largest
    hidden size is ``spec.strategies.BOUNDARY_SIZES['hidden_size'][-1]``.
    """

    catches = {"stress-hidden-size": AT_PRODUCTION_SIZE}

    def preactivation(self, x_t, h, w):
        z = super().preactivation(x_t, h, w)
        H = self.config.hidden_size
        if H <= RESIDENT_UNITS:
            return z
        unit = torch.arange(4 * H, device=z.device) % H
        recurrent = torch.nn.functional.linear(h, w["w_hh"])
        return z - torch.where(unit >= RESIDENT_UNITS, recurrent, torch.zeros_like(recurrent))


DEVICE_DEFECTS = (InputMovedToParameters, EmptyBatchOnDefaultDevice)
STRESS_DEFECTS = (BatchIndexWrapsPast256, RecurrencePast1024UnitsDropped,
                  CellResetPast65536Steps)
