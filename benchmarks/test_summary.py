"""``summarize`` on hand-made pytest-benchmark JSON."""

from __future__ import annotations

import pytest

from lstm_conformance.benchmarks import summarize


def _bench(impl: str, shape: str, mode: str, mean: float, *, extra: bool = True) -> dict:
    test_id = f"{impl}-{shape}-{mode}"
    return {
        "group": f"{shape}-{mode}",
        "name": f"test_speed[{test_id}]",
        "fullname": f"benchmarks/test_speed.py::test_speed[{test_id}]",
        "param": test_id,
        "params": {"bench_impl": impl, "bench_shape": shape, "bench_mode": mode},
        "extra_info": {"impl": impl, "shape": shape, "mode": mode} if extra else {},
        "stats": {"mean": mean, "stddev": mean / 10, "rounds": 7, "median": mean * 0.9,
                  "min": mean / 2, "max": mean * 2},
    }


def test_rows_and_ratios_per_shape_and_mode():
    data = {"benchmarks": [
        _bench("torch-lstm", "latency", "forward", 0.002),
        _bench("cell-loop", "latency", "forward", 0.050),
        _bench("torch-lstm", "latency", "forward-backward", 0.004),
        _bench("cell-loop", "latency", "forward-backward", 0.012),
        _bench("numpy-reference", "throughput", "forward", 0.3),
    ]}
    rows = summarize(data)
    assert [r["name"] for r in rows] == [
        "torch-lstm-latency-forward", "cell-loop-latency-forward",
        "torch-lstm-latency-forward-backward", "cell-loop-latency-forward-backward",
        "numpy-reference-throughput-forward",
    ]
    first = rows[1]
    assert {k: first[k] for k in ("impl", "shape", "mode", "mean_s", "stddev_s", "rounds")} == {
        "impl": "cell-loop", "shape": "latency", "mode": "forward", "mean_s": 0.050,
        "stddev_s": 0.005, "rounds": 7}
    assert rows[0]["ratio_to_torch"] == pytest.approx(1.0)
    assert rows[1]["ratio_to_torch"] == pytest.approx(25.0)
    # the ratio compares with torch-lstm in the same mode, not the other one
    assert rows[3]["ratio_to_torch"] == pytest.approx(3.0)
    # no torch-lstm for this shape: no ratio
    assert rows[4]["ratio_to_torch"] is None


def test_without_torch_lstm_at_all():
    rows = summarize({"benchmarks": [_bench("stacked", "bidirectional", "forward", 0.01)]})
    assert rows[0]["ratio_to_torch"] is None
    assert rows[0]["impl"] == "stacked" and rows[0]["shape"] == "bidirectional"


def test_identity_from_the_test_id_when_extra_info_is_missing():
    rows = summarize({"benchmarks": [
        _bench("torch-lstm", "bidirectional", "forward-backward", 0.02, extra=False),
        {**_bench("my-fast-lstm", "bidirectional", "forward-backward", 0.01, extra=False),
         "params": {}},
    ]})
    assert [(r["impl"], r["shape"], r["mode"]) for r in rows] == [
        ("torch-lstm", "bidirectional", "forward-backward"),
        ("my-fast-lstm", "bidirectional", "forward-backward"),
    ]
    assert rows[1]["ratio_to_torch"] == pytest.approx(0.5)


def test_empty():
    assert summarize({"benchmarks": []}) == []
    assert summarize({}) == []
