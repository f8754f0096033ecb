"""The adapter adds nothing: its results are bitwise those of quantize_dynamic applied by hand,
and within the declared tolerance of nn.LSTM where the tolerance was measured to hold."""

from __future__ import annotations

import pytest
import torch
from qlstm_helpers import maxdiff, quantized_directly, seeded_lstm
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from quantized_lstm import DynamicFloat16LSTM, DynamicInt8LSTM

IMPLS = [(DynamicInt8LSTM, torch.qint8), (DynamicFloat16LSTM, torch.float16)]
IDS = ["int8", "float16"]


def adapter_for(cls, ref: nn.LSTM, **kw):
    m = cls(ref.input_size, ref.hidden_size, ref.num_layers, bidirectional=ref.bidirectional,
            batch_first=ref.batch_first, **kw)
    m.load_state_dict(ref.state_dict())
    return m.eval()


def assert_same(a, b):
    """Bitwise equal (output, (h_n, c_n)); output may be a PackedSequence."""
    (oa, (ha, ca)), (ob, (hb, cb)) = a, b
    if isinstance(oa, torch.nn.utils.rnn.PackedSequence):
        assert torch.equal(oa.batch_sizes, ob.batch_sizes)
        oa, ob = oa.data, ob.data
    assert torch.equal(oa, ob)
    assert torch.equal(ha, hb)
    assert torch.equal(ca, cb)


@pytest.mark.parametrize("cls, qdtype", IMPLS, ids=IDS)
def test_one_layer_float32_is_quantize_dynamic_and_near_nn_lstm(cls, qdtype):
    """The plain mapping: one layer, float32, weights of an nn.LSTM."""
    ref = seeded_lstm(4, 5, seed=1)
    x = torch.randn(7, 3, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = adapter_for(cls, ref)(x)
        direct = quantized_directly(ref, qdtype)(x)
        expected = ref(x)
    assert_same(got, direct)
    tol = cls.lstm_conformance_tolerance["float32"]
    for a, e in zip((got[0], *got[1]), (expected[0], *expected[1]), strict=True):
        torch.testing.assert_close(a, e, atol=tol["atol"], rtol=tol["rtol"])
        # and it is a quantized result, not nn.LSTM's: a bare quantize_dynamic(nn.LSTM)
        # would have passed the closeness check with a zero difference.
        assert maxdiff(a, e) > 0


@pytest.mark.parametrize("cls, qdtype", IMPLS, ids=IDS)
@pytest.mark.parametrize(
    "layers, bidirectional, batch_first, form, with_hx",
    [(2, True, False, "dense", True), (3, False, True, "dense", False),
     (2, True, False, "packed", True), (1, False, False, "packed", False)],
)
def test_every_supported_form_is_quantize_dynamic(cls, qdtype, layers, bidirectional,
                                                  batch_first, form, with_hx):
    ref = seeded_lstm(3, 4, layers, seed=3, bidirectional=bidirectional,
                      batch_first=batch_first)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(6, 4, 3, generator=g)
    rows = layers * (2 if bidirectional else 1)
    hx = (torch.rand(rows, 4, 4, generator=g) * 2 - 1, torch.randn(rows, 4, 4, generator=g))
    hx = hx if with_hx else None
    inp = pack_padded_sequence(x, torch.tensor([6, 2, 5, 1]), enforce_sorted=False) \
        if form == "packed" else x
    with torch.no_grad():
        assert_same(adapter_for(cls, ref)(inp, hx), quantized_directly(ref, qdtype)(inp, hx))


@pytest.mark.parametrize("cls, qdtype", IMPLS, ids=IDS)
def test_state_dict_names_are_nn_lstm_names(cls, qdtype):
    ref = nn.LSTM(2, 3, 2, bidirectional=True)
    m = cls(2, 3, 2, bidirectional=True)
    assert list(m.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in ref.named_parameters()]


@pytest.mark.parametrize("cls, qdtype", IMPLS, ids=IDS)
def test_requantizes_when_weights_change(cls, qdtype):
    """The quantized module is cached on the weights' bytes: reused while they are the same,
    rebuilt after load_state_dict or an in-place edit."""
    a, b = seeded_lstm(3, 4, seed=5), seeded_lstm(3, 4, seed=6)
    x = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(7))
    m = adapter_for(cls, a)
    with torch.no_grad():
        first = m(x)
        cached = m.quantized_module()
        assert m.quantized_module() is cached
        assert_same(m(x), first)

        m.load_state_dict(b.state_dict())
        assert m.quantized_module() is not cached
        assert_same(m(x), quantized_directly(b, qdtype)(x))

        m.weight_hh_l0.mul_(0.5)  # in place, no load_state_dict
        b.weight_hh_l0.mul_(0.5)
        assert_same(m(x), quantized_directly(b, qdtype)(x))


@pytest.mark.parametrize("cls, qdtype", IMPLS, ids=IDS)
def test_train_and_eval_reach_the_quantized_module(cls, qdtype):
    """train() turns on the quantized module's dropout between layers; eval() turns it off."""
    ref = seeded_lstm(3, 4, 2, seed=8, dropout=0.5)
    x = torch.randn(5, 3, 3, generator=torch.Generator().manual_seed(9))
    m = adapter_for(cls, ref, dropout=0.5)
    with torch.no_grad():
        evaluated = m(x)
        m.train()
        torch.manual_seed(10)
        trained = m(x)
        assert not torch.equal(trained[0], evaluated[0])
        # layer 0 is before any dropout: its states are eval's
        assert torch.equal(trained[1][0][0], evaluated[1][0][0])
        m.eval()
        assert_same(m(x), evaluated)


def test_caller_weights_are_not_touched():
    ref = seeded_lstm(3, 4, seed=11)
    state = {k: v.clone() for k, v in ref.state_dict().items()}
    m = DynamicInt8LSTM(3, 4)
    m.load_state_dict(ref.state_dict())
    m(torch.randn(2, 1, 3))
    for k, v in ref.state_dict().items():
        assert torch.equal(v, state[k])
    assert type(ref) is nn.LSTM
