"""Standalone reproductions of how dynamic quantization breaks nn.LSTM's structural identities.

No suite and no adapter: ``quantize_dynamic`` applied by hand (conftest.quantized_directly)
and plain torch. Each int8 test asserts that the difference IS there, at the size measured
with these seeds (torch 2.13.0+cpu, x86 engine, one thread; the figures are in comments),
and that float32 nn.LSTM on the same data has no such difference (the control).

The mechanism, for int8: ``torch.quantized_lstm`` with ``use_dynamic=True`` computes the
input projection W_ih x of *all* time steps and batch elements in one dynamic quantized
linear, whose uint8 activation scale and zero point come from the min and max of that whole
(T, N, input) tensor; the recurrent product W_hh h_{t-1} is quantized per step, with one
scale for the whole (N, H) batch. So a value anywhere in the sequence, or in another batch
element, moves the rounding grid of every other value: outputs depend on future inputs
(causality) and on other batch elements (batch independence), and splitting a sequence
changes the result (state continuation).

float16 weights quantize nothing at run time (activations stay float32), so all of these
identities hold for it bitwise: ``test_float16_structure_is_exact``.
"""

from __future__ import annotations

import pytest
import torch
from qlstm_helpers import maxdiff, quantized_directly, seeded_lstm
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

INT8 = torch.qint8


def data(seed: int, T=8, N=4, n_in=5):
    return torch.randn(T, N, n_in, generator=torch.Generator().manual_seed(seed))


# --- causality ------------------------------------------------------------------------------

def test_int8_future_input_changes_past_outputs():
    """One large input at the LAST step changes the output at the FIRST step."""
    ref = seeded_lstm(5, 6, seed=0)
    q = quantized_directly(ref, INT8)
    x = data(100)
    spiked = x.clone()
    spiked[-1, 0, 0] = 50.0
    with torch.no_grad():
        diff = maxdiff(q(spiked)[0][0], q(x)[0][0])
        control = maxdiff(ref(spiked)[0][0], ref(x)[0][0])
    assert control == 0.0
    assert 1e-2 < diff < 1e-1  # measured 2.86e-02


def test_int8_prefix_is_not_a_prefix_of_the_output():
    """The suite's causality check: run x[:k] and compare with the first k steps of x."""
    ref = seeded_lstm(5, 6, seed=1)
    q = quantized_directly(ref, INT8)
    x, k = data(101), 3
    with torch.no_grad():
        diff = maxdiff(q(x[:k])[0], q(x)[0][:k])
        control = maxdiff(ref(x[:k])[0], ref(x)[0][:k])
    assert control == 0.0
    assert 1e-3 < diff < 5e-2  # measured 1.06e-02


def test_int8_prefix_holding_the_extremes_is_causal():
    """The mechanism: when the prefix already holds the whole input's min and max, the
    input's quantization grid is the same, and the prefix run is bitwise the full run's."""
    ref = seeded_lstm(5, 6, seed=1)
    q = quantized_directly(ref, INT8)
    x, k = data(101), 3
    x[0, 0, 0], x[0, 0, 1] = 10.0, -10.0  # beyond every other value
    with torch.no_grad():
        assert torch.equal(q(x[:k])[0], q(x)[0][:k])


# --- batch independence ---------------------------------------------------------------------

def test_int8_batch_element_alone_differs_from_in_batch():
    """The suite's batch-independence check: element b run alone vs within the batch."""
    ref = seeded_lstm(5, 6, seed=0)
    q = quantized_directly(ref, INT8)
    x, b = data(100), 2
    with torch.no_grad():
        o, (h, c) = q(x)
        ob, (hb, cb) = q(x[:, b:b + 1])
        diff = max(maxdiff(ob, o[:, b:b + 1]), maxdiff(hb, h[:, b:b + 1]),
                   maxdiff(cb, c[:, b:b + 1]))
        ro, (rh, rc) = ref(x)
        rob, (rhb, rcb) = ref(x[:, b:b + 1])
        control = max(maxdiff(rob, ro[:, b:b + 1]), maxdiff(rhb, rh[:, b:b + 1]),
                      maxdiff(rcb, rc[:, b:b + 1]))
    assert control < 1e-6  # float32 GEMM blocking may differ by rounding only
    assert 1e-3 < diff < 5e-2  # measured 5.77e-03


def test_int8_other_batch_element_changes_this_one():
    """Scaling batch element 1's input by 10 changes element 0's output."""
    ref = seeded_lstm(5, 6, seed=0)
    q = quantized_directly(ref, INT8)
    x = data(100)
    louder = x.clone()
    louder[:, 1] *= 10
    with torch.no_grad():
        diff = maxdiff(q(louder)[0][:, 0], q(x)[0][:, 0])
        control = maxdiff(ref(louder)[0][:, 0], ref(x)[0][:, 0])
    assert control < 1e-6
    assert 1e-2 < diff < 1e-1  # measured 3.53e-02


def test_int8_packed_sequence_alone_differs_from_packed_batch():
    """The suite's packed-per-sequence check: a sequence run alone at its true length vs
    within a packed batch of unsorted lengths."""
    ref = seeded_lstm(5, 6, seed=0)
    q = quantized_directly(ref, INT8)
    x, lengths, b = data(100), [8, 3, 6, 5], 2
    packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
    with torch.no_grad():
        out = pad_packed_sequence(q(packed)[0])[0]
        alone = q(x[: lengths[b], b:b + 1])[0]
        diff = maxdiff(alone, out[: lengths[b], b:b + 1])
        rout = pad_packed_sequence(ref(packed)[0])[0]
        control = maxdiff(ref(x[: lengths[b], b:b + 1])[0], rout[: lengths[b], b:b + 1])
    assert control < 1e-6
    assert 1e-3 < diff < 5e-2  # measured 5.55e-03


# --- state continuation ---------------------------------------------------------------------

def test_int8_split_sequence_differs_from_one_call():
    """The suite's state-continuation check: x[:k] then x[k:] from its (h_n, c_n)."""
    ref = seeded_lstm(5, 6, seed=0)
    q = quantized_directly(ref, INT8)
    x, k = data(100), 3
    with torch.no_grad():
        o, (h, c) = q(x)
        o1, s1 = q(x[:k])
        o2, (h2, c2) = q(x[k:], s1)
        diff = max(maxdiff(torch.cat([o1, o2]), o), maxdiff(h2, h), maxdiff(c2, c))
        ro, (rh, rc) = ref(x)
        r1, rs1 = ref(x[:k])
        r2, (rh2, rc2) = ref(x[k:], rs1)
        control = max(maxdiff(torch.cat([r1, r2]), ro), maxdiff(rh2, rh), maxdiff(rc2, rc))
    assert control < 1e-6
    assert 1e-3 < diff < 5e-2  # measured 1.04e-02


# --- what int8 keeps exactly ----------------------------------------------------------------

def test_int8_keeps_exact_identities():
    """Relations where both sides are the same numbers hold bitwise for int8 too:
    determinism, hx=None is zeros, h_n is the last output step, batch permutation (min and
    max do not depend on the order), packing equal lengths."""
    ref = seeded_lstm(5, 6, 2, seed=0)
    q = quantized_directly(ref, INT8)
    x = data(100)
    z = torch.zeros(2, 4, 6)
    p = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        o, (h, c) = q(x)
        assert torch.equal(q(x)[0], o)
        oz, (hz, cz) = q(x, (z, z))
        assert torch.equal(oz, o) and torch.equal(hz, h) and torch.equal(cz, c)
        assert torch.equal(h[-1], o[-1])
        op, (hp, cp) = q(x[:, p])
        assert torch.equal(op, o[:, p]) and torch.equal(hp, h[:, p]) and torch.equal(cp, c[:, p])
        packed = pack_padded_sequence(x, torch.tensor([8] * 4))
        ok, (hk, ck) = q(packed)
        assert torch.equal(pad_packed_sequence(ok)[0], o) and torch.equal(hk, h)


# --- float16 --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_float16_structure_is_exact(seed):
    """float16 weights: causality, batch independence, state continuation and packed runs
    are bitwise those of the whole call (measured: 0.0 in 1500 random configurations too,
    tools/measure.py)."""
    ref = seeded_lstm(5, 6, seed=seed)
    q = quantized_directly(ref, torch.float16)
    x, k, b = data(100 + seed), 3, 2
    spiked = x.clone()
    spiked[-1, 0, 0] = 50.0
    with torch.no_grad():
        o, (h, c) = q(x)
        assert torch.equal(q(x[:k])[0], o[:k])
        assert torch.equal(q(spiked)[0][0], o[0])
        ob, (hb, cb) = q(x[:, b:b + 1])
        assert torch.equal(ob, o[:, b:b + 1]) and torch.equal(hb, h[:, b:b + 1])
        o1, s1 = q(x[:k])
        o2, (h2, c2) = q(x[k:], s1)
        assert torch.equal(torch.cat([o1, o2]), o) and torch.equal(h2, h) and torch.equal(c2, c)
