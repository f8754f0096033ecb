"""Standalone reproduction of why float64 is a declared gap for MindSpore (mindspore and
numpy only): ``mindspore.nn.LSTM`` built with ``dtype=mindspore.float64`` runs a float64
input without an initial state, but refuses a float64 initial state ``(h0, c0)`` with a
TypeError (its ``construct`` accepts float32 and float16 only, as documented), so
float64 cannot be checked with an initial state, which most of the suite's checks pass.
The test asserts the refusal is *there*; when it starts failing, MindSpore takes float64.
Run alone with ``python examples/mindspore-lstm/tests/test_findings.py``.
"""

import mindspore as ms
import numpy as np
import pytest

ms.set_device("CPU")


def run_float64(with_state: bool):
    model = ms.nn.LSTM(3, 5, 1, dtype=ms.float64)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((4, 2, 3)))  # float64
    hx = None
    if with_state:
        hx = (ms.Tensor(np.zeros((1, 2, 5))), ms.Tensor(np.zeros((1, 2, 5))))
    output, _ = model(x, hx)
    return output


def test_float64_runs_without_an_initial_state():
    assert run_float64(with_state=False).dtype == ms.float64


def test_float64_initial_state_is_refused():
    with pytest.raises(TypeError, match="float32|Float32"):
        run_float64(with_state=True)


if __name__ == "__main__":
    from importlib.metadata import version

    print(f"mindspore {version('mindspore')}, CPU")
    print("float64 without an initial state:", run_float64(False).dtype)
    try:
        run_float64(True)
    except TypeError as error:
        print("float64 with an initial state: TypeError:", str(error).splitlines()[0])
