"""Rows for the report's benchmark section from pytest-benchmark's JSON.

``tox -e bench`` writes ``reports/benchmark.json`` (``--benchmark-json``); the report
shows it when it lies in the report directory (``rows_for``).

``summarize(json.load(open("reports/benchmark.json")))`` gives one row per benchmark::

    {"name": "torch-lstm-latency-forward", "impl": "torch-lstm", "shape": "latency",
     "mode": "forward", "mean_s": 0.00078, "stddev_s": 0.00003, "rounds": 200,
     "ratio_to_torch": 1.0, "median_s": 0.00076}

``ratio_to_torch`` is the row's mean over torch-lstm's mean for the same shape and mode
(None when torch-lstm was not benchmarked for it). ``median_s`` is extra: on a busy
machine a few stalled rounds move the mean, hardly the median.
"""

from __future__ import annotations

REFERENCE = "torch-lstm"
MODES = ("forward-backward", "forward")  # longest first: "forward" ends both


def _split_id(test_id: str) -> tuple[str | None, str | None, str | None]:
    """``cell-loop-latency-forward-backward`` -> (cell-loop, latency, forward-backward)."""
    for mode in MODES:
        if test_id.endswith(f"-{mode}"):
            rest = test_id[: -len(mode) - 1]
            impl, _, shape = rest.rpartition("-")
            return (impl or None), (shape or None), mode
    return None, None, None


def _identity(bench: dict) -> tuple[str, str | None, str | None, str | None]:
    name = bench.get("param") or bench.get("name", "")
    if "[" in name:  # "test_speed[torch-lstm-latency-forward]"
        name = name[name.index("[") + 1:].rstrip("]")
    extra = bench.get("extra_info") or {}
    params = bench.get("params") or {}
    parsed = _split_id(name)
    impl = extra.get("impl") or params.get("bench_impl") or parsed[0]
    shape = extra.get("shape") or params.get("bench_shape") or parsed[1]
    mode = extra.get("mode") or params.get("bench_mode") or parsed[2]
    return name, impl, shape, mode


def summarize(benchmark_json: dict) -> list[dict]:
    """One row per benchmark in ``benchmark_json["benchmarks"]``, in the file's order."""
    rows = []
    for bench in benchmark_json.get("benchmarks", []):
        stats = bench.get("stats") or {}
        name, impl, shape, mode = _identity(bench)
        rows.append({
            "name": name,
            "impl": impl,
            "shape": shape,
            "mode": mode,
            "mean_s": stats.get("mean"),
            "stddev_s": stats.get("stddev"),
            "rounds": stats.get("rounds"),
            "ratio_to_torch": None,
            "median_s": stats.get("median"),
        })
    reference = {(r["shape"], r["mode"]): r["mean_s"] for r in rows if r["impl"] == REFERENCE}
    for row in rows:
        base = reference.get((row["shape"], row["mode"]))
        if base and row["mean_s"] is not None:
            row["ratio_to_torch"] = row["mean_s"] / base
    return rows


def rows_for(report_dir) -> list[dict] | None:
    """The rows of ``report_dir/benchmark.json``, or None when there is none (or it is
    not pytest-benchmark JSON)."""
    import json
    from pathlib import Path

    path = Path(report_dir) / "benchmark.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return summarize(data) if isinstance(data, dict) else None
