"""Speed of every selected implementation on a fixed grid of shapes users care about.

Run with ``tox -e bench`` or ``pytest benchmarks [--lstm-impl NAME]...``. Each benchmark is
one (implementation, shape, mode); its id reads ``torch-lstm-latency-forward``:

* shapes (float32, seq-first input, no initial state):
  ``latency`` batch 1, seq 256, input = hidden = 64, one layer;
  ``throughput`` batch 32, seq 64, input = hidden = 128, one layer;
  ``bidirectional`` batch 16, seq 64, input = hidden = 64, two layers, bidirectional.
* modes: ``forward`` (eval mode, under ``torch.no_grad``) for every implementation;
  ``forward-backward`` (train mode, ``output.sum().backward()``) for those that do not
  declare ``autograd`` unsupported.

Implementations are built the way the conformance checks build them
(``Subject.build`` with weights from ``spec.strategies.make_weights``) and then called
directly, so the harness's result checks are not timed. Rounds adapt to the speed of
the implementation (about ``TARGET_S`` seconds of timed calls each, at least
``MIN_ROUNDS``) so that the slow pure-Python ones keep the run short. Nothing here
asserts a timing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import torch

from lstm_conformance.discovery import LoadError, load, registered
from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.errors import NotApplicable
from lstm_conformance.spec.strategies import make_input, make_weights

DTYPE = torch.float32
SEED = 0
#: Seconds of timed calls to aim for per benchmark, and the bounds on rounds.
TARGET_S = 2.0
MIN_ROUNDS, MAX_ROUNDS = 3, 200
MODES = ("forward", "forward-backward")


@dataclass(frozen=True)
class Shape:
    name: str
    config: LSTMConfig
    batch: int
    seq_len: int

    def describe(self) -> dict:
        return {"batch": self.batch, "seq_len": self.seq_len, **self.config.kwargs()}


SHAPES = (
    Shape("latency", LSTMConfig(64, 64), batch=1, seq_len=256),
    Shape("throughput", LSTMConfig(128, 128), batch=32, seq_len=64),
    Shape("bidirectional", LSTMConfig(64, 64, num_layers=2, bidirectional=True),
          batch=16, seq_len=64),
)
SHAPES_BY_NAME = {shape.name: shape for shape in SHAPES}


def selected_names(config: pytest.Config) -> list[str]:
    """The conformance plugin's ``--lstm-impl`` values (repeatable), else every registered one."""
    known = registered()
    try:
        chosen = config.getoption("lstm_impl")
    except ValueError:  # the conformance plugin was disabled with -p no:lstm_conformance
        chosen = None
    if not chosen:
        return list(known)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        listed = ", ".join(known) or "none (is the project installed?)"
        raise pytest.UsageError(  # as the conformance plugin does for the same option
            f"unknown implementation {', '.join(map(repr, unknown))} for --lstm-impl; "
            f"registered: {listed}")
    return list(dict.fromkeys(chosen))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_impl" not in metafunc.fixturenames:
        return
    params = [
        pytest.param(impl, shape.name, mode, id=f"{impl}-{shape.name}-{mode}",
                     marks=pytest.mark.benchmark(group=f"{shape.name}-{mode}"))
        for shape in SHAPES
        for mode in MODES
        for impl in selected_names(metafunc.config)
    ]
    metafunc.parametrize(("bench_impl", "bench_shape", "bench_mode"), params)


@pytest.fixture(scope="module")
def load_subject():
    """``load_subject(name) -> (Subject, kind)``: each implementation imported once."""
    cache: dict[str, tuple | LoadError] = {}

    def get(name: str):
        if name not in cache:
            try:
                cache[name] = load(registered()[name])
            except LoadError as exc:
                cache[name] = exc
        found = cache[name]
        if isinstance(found, LoadError):
            pytest.fail(f"{name} could not be loaded: {found}", pytrace=False)
        return found

    return get


def _rounds(fn) -> int:
    """Two untimed calls (a warm-up, then one timed by hand): rounds that fit ``TARGET_S``."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-9)
    return max(MIN_ROUNDS, min(MAX_ROUNDS, int(TARGET_S / once)))


def test_speed(benchmark, bench_impl, bench_shape, bench_mode, load_subject) -> None:
    impl, shape, mode = bench_impl, SHAPES_BY_NAME[bench_shape], bench_mode
    subject, kind = load_subject(impl)
    training = mode == "forward-backward"
    if training and "autograd" in subject.unsupported:
        pytest.skip(f"{impl} declares autograd unsupported")
    config = shape.config
    weights = make_weights(config, SEED, 1.0, DTYPE)
    x = make_input(config, shape.seq_len, shape.batch, SEED, 1.0, DTYPE)
    try:
        module = subject.build(config, weights, DTYPE, training=training)
    except NotApplicable as exc:
        pytest.skip(f"{impl} does not support {shape.name}: {exc}")

    if training:
        def step():
            module.zero_grad(set_to_none=True)
            output, _ = module(x)
            output.sum().backward()
    else:
        def step():
            with torch.no_grad():
                return module(x)

    # A sanity check outside the timed calls: the benchmark times an LSTM's answer.
    with torch.no_grad():
        output, (h_n, _) = module(x)
    want = (shape.seq_len, shape.batch, config.num_directions * config.h_out)
    assert tuple(output.shape) == want, f"{impl} returned output {tuple(output.shape)}"
    assert tuple(h_n.shape) == (config.state_rows, shape.batch, config.h_out)

    rounds = _rounds(step)
    benchmark.extra_info.update(
        impl=impl, kind=kind, shape=shape.name, mode=mode, dtype="float32",
        torch_threads=torch.get_num_threads(), torch_version=torch.__version__,
        **shape.describe(),
    )
    benchmark.pedantic(step, rounds=rounds, iterations=1, warmup_rounds=1)
