"""Standalone reproduction of the difference the suite reports for MLX (mlx and numpy
only): on the CPU, ``mx.sigmoid`` and ``mx.exp`` of float64 arrays return float64 arrays
that are only float32-accurate (relative error ~1e-7), while matmul, addmm and tanh are
float64-exact; the LSTM's gates go through sigmoid, so a float64 LSTM is float32-accurate.
The test asserts the difference is *there*; when it starts failing, MLX has fixed it.
Run alone with ``python examples/mlx-lstm/tests/test_findings.py``.
"""

import mlx.core as mx
import numpy as np

mx.set_default_device(mx.cpu)
X = np.random.default_rng(0).standard_normal((4, 8))


def relative_errors() -> dict:
    a = mx.array(X, dtype=mx.float64)
    out = {}
    for name, got, want in [("sigmoid", mx.sigmoid(a), 1 / (1 + np.exp(-X))),
                            ("exp", mx.exp(a), np.exp(X)), ("tanh", mx.tanh(a), np.tanh(X))]:
        assert got.dtype == mx.float64
        out[name] = float(np.max(np.abs(np.array(got) - want) / np.abs(want)))
    return out


def test_float64_sigmoid_and_exp_are_float32_accurate():
    errors = relative_errors()
    assert errors["tanh"] < 1e-14  # float64-exact, for contrast
    assert 1e-9 < errors["sigmoid"] < 1e-6
    assert 1e-9 < errors["exp"] < 1e-6


if __name__ == "__main__":
    from importlib.metadata import version

    print(f"mlx {version('mlx')}, CPU, float64 in and out")
    for name, error in relative_errors().items():
        print(f"{name:8s} max relative error {error:.2e}")
    test_float64_sigmoid_and_exp_are_float32_accurate()
    print("reproduced: float64 sigmoid and exp are float32-accurate")
