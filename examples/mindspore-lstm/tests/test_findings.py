"""Standalone reproductions of MindSpore's differences (mindspore and numpy only).

1. **float32 tanh and sigmoid are approximations on the CPU.** ``ops.tanh`` of float32 is
   off by up to 1e-4 for |x| between 4 and 6 (``tanh(4.99)`` is 1.0000064, above 1) and
   ``ops.sigmoid`` by up to 8e-7 (relative 3e-6), where float32 rounding is 6e-8.
   ``mindspore.nn.LSTM`` given ``seq_length`` (packed input) runs its Python
   ``_lstm_cell`` step by step with these operators, so packed float32 runs differ from a
   float64 LSTM by more than float32's tolerance (1e-5); without ``seq_length`` it calls
   the fused ``ops.LSTM`` kernel, which is float32-accurate. Upstream (related):
   https://github.com/mindspore-ai/mindspore/issues/348 (ops.tanh on the CPU differs from
   torch.tanh by up to 4.7e-5).
2. **float64 with an initial state is refused** (why ``float64`` is a declared gap):
   ``mindspore.nn.LSTM(dtype=mindspore.float64)`` runs float64 input without an initial
   state, but refuses a float64 ``(h0, c0)`` with a TypeError (float32 and float16 only,
   as documented).

The tests assert the differences are *there*; when one starts failing, MindSpore has
changed, and the matching declaration in ``mindspore_lstm`` should go. Run alone with
``python examples/mindspore-lstm/tests/test_findings.py``.
"""

import mindspore as ms
import numpy as np
import pytest
from mindspore import ops

ms.set_device("CPU")


def activation_errors() -> dict:
    """max |MindSpore float32 - exact| of tanh on [4, 6] and sigmoid on [-12, 12]."""
    x = np.linspace(4, 6, 20001).astype(np.float32)
    tanh = np.abs(ops.tanh(ms.Tensor(x)).asnumpy() - np.tanh(x.astype(np.float64))).max()
    x = np.linspace(-12, 12, 200001).astype(np.float32)
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    sigmoid = np.abs(ops.sigmoid(ms.Tensor(x)).asnumpy() - exact).max()
    return {"tanh": float(tanh), "sigmoid": float(sigmoid)}


def lstm_float64(x, w_ih, w_hh, b):
    """One-layer LSTM in float64 numpy, torch's gate order i, f, g, o; (output, c_n)."""
    H = w_hh.shape[1]
    h = c = np.zeros((x.shape[1], H))
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    out = []
    for x_t in x:
        z = x_t @ w_ih.T + h @ w_hh.T + b
        i, f, o = sig(z[:, :H]), sig(z[:, H:2 * H]), sig(z[:, 3 * H:])
        g = np.tanh(z[:, 2 * H:3 * H])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out), c


def packed_and_dense_errors() -> dict:
    """max |MindSpore float32 - float64 LSTM| over output and c_n, with every sequence at
    full length given as ``seq_length`` (the step-by-step path) and without (ops.LSTM),
    and between the two."""
    rng = np.random.default_rng(0)
    L, N, In, H = 5, 8, 4, 16
    model = ms.nn.LSTM(In, H, 1)
    params = {p.name: p for p in model.get_parameters()}
    weights = {name: rng.standard_normal(p.shape).astype(np.float32) for name, p in params.items()}
    for name, value in weights.items():
        params[name].set_data(ms.Tensor(value))
    x = (3 * rng.standard_normal((L, N, In))).astype(np.float32)
    w = {name: value.astype(np.float64) for name, value in weights.items()}
    want_out, want_c = lstm_float64(x.astype(np.float64), w["weight_ih_l0"], w["weight_hh_l0"],
                                    w["bias_ih_l0"] + w["bias_hh_l0"])
    errors, got = {}, {}
    for name, seq_length in [("dense", None), ("packed", ms.Tensor(np.full(N, L, np.int64)))]:
        out, (_, c_n) = model(ms.Tensor(x), None, seq_length)
        got[name] = (out.asnumpy(), c_n.asnumpy()[0])
        errors[name] = float(max(np.abs(got[name][0] - want_out).max(),
                                 np.abs(got[name][1] - want_c).max()))
    pairs = zip(got["packed"], got["dense"], strict=True)
    errors["packed vs dense"] = float(max(np.abs(a - b).max() for a, b in pairs))
    return errors


def run_float64(with_state: bool):
    model = ms.nn.LSTM(3, 5, 1, dtype=ms.float64)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((4, 2, 3)))  # float64
    hx = None
    if with_state:
        hx = (ms.Tensor(np.zeros((1, 2, 5))), ms.Tensor(np.zeros((1, 2, 5))))
    output, _ = model(x, hx)
    return output


def test_float32_tanh_and_sigmoid_are_approximations():
    errors = activation_errors()
    assert errors["tanh"] > 5e-5  # float32 rounding of tanh near 1 is 6e-8
    assert errors["sigmoid"] > 3e-7
    assert float(ops.tanh(ms.Tensor(np.float32(4.99)))) > 1.0


def test_packed_path_is_less_accurate_than_the_dense_path():
    errors = packed_and_dense_errors()
    assert errors["dense"] < 1e-5  # float32's tolerance: the fused kernel meets it
    assert errors["packed"] > 1e-5  # the step-by-step path does not
    assert errors["packed vs dense"] > 1e-5  # equal lengths: the same LSTM, two paths


def test_float64_runs_without_an_initial_state():
    assert run_float64(with_state=False).dtype == ms.float64


def test_float64_initial_state_is_refused():
    with pytest.raises(TypeError, match="float32|Float32"):
        run_float64(with_state=True)


if __name__ == "__main__":
    from importlib.metadata import version

    print(f"mindspore {version('mindspore')}, CPU")
    for name, error in activation_errors().items():
        print(f"float32 {name}: max abs error {error:.2e}")
    print("tanh(4.99) in float32:", float(ops.tanh(ms.Tensor(np.float32(4.99)))))
    for name, error in packed_and_dense_errors().items():
        print(f"nn.LSTM float32 {name}: max |diff| {error:.2e}")
    print("float64 without an initial state:", run_float64(False).dtype)
    try:
        run_float64(True)
    except TypeError as error:
        print("float64 with an initial state: TypeError:", str(error).splitlines()[0][:100])
