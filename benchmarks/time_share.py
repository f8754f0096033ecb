"""Where a conformance run's wall time goes: inside the implementations, or the suite's own.

A pytest plugin for measuring, not for everyday runs::

    python -m pytest conformance -n 0 -p benchmarks.time_share --lstm-profile default \\
        [--time-share-json FILE] ...

It listens through the suite's supported hook for timing implementations, a call observer
(``conformance.selection.Selection.observe``, which ``spec.harness.Subject`` calls after
each build and each call), and adds up wall-clock time (``time.perf_counter``, no
profiler, so Python-heavy and C-heavy code are measured alike):

* ``forward``: the implementation's call, ``module(input, hx)``: the headline number;
* ``build``: constructor, ``.to(dtype)``, ``load_state_dict``, ``train()``/``eval()``.

Everything else (hypothesis generation and shrinking, the oracle, autograd of the
reference, the harness's result checks, comparisons, collection, reporting) is the suite's
own time. At the end it prints the split per implementation and overall, as seconds and
as shares of the time from configure to the end of the session. The checks must run in
this process (``-n 0``): an observer cannot listen inside pytest-xdist workers.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

import pytest

from lstm_conformance.plugin import conformance_run
from lstm_conformance.session import pair

BUCKETS = ("forward", "build")


class TimeShare:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.test_seconds: dict[str, float] = defaultdict(float)
        self.current = "(outside tests)"  # the implementation of the running test

    def observe(self, phase: str, seconds: float) -> None:
        self.seconds[self.current][phase] += seconds
        self.calls[self.current][phase] += 1

    def summary(self) -> dict:
        total = time.perf_counter() - self.start
        per_impl = {}
        for impl in sorted(set(self.seconds) | set(self.test_seconds)):
            spent = {b: round(self.seconds[impl].get(b, 0.0), 3) for b in BUCKETS}
            tests = round(self.test_seconds.get(impl, 0.0), 3)
            share = round(spent["forward"] / tests, 4) if tests else None
            per_impl[impl] = {"test_seconds": tests, **spent,
                              "forward_calls": self.calls[impl].get("forward", 0),
                              "forward_share": share}
        forward = sum(v["forward"] for v in per_impl.values())
        inside = sum(v["forward"] + v["build"] for v in per_impl.values())
        return {
            "session_seconds": round(total, 3),
            "tests_seconds": round(sum(self.test_seconds.values()), 3),
            "forward_seconds": round(forward, 3),
            "forward_share": round(forward / total, 4) if total else None,
            "forward_build_share": round(inside / total, 4) if total else None,
            "per_impl": per_impl,
        }


#: The share being measured in this process (pytest_runtest_logreport has no config).
_ACTIVE: list[TimeShare] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--time-share-json", default=None, metavar="FILE",
                     help="benchmarks.time_share: also write the split as JSON to FILE")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    run = conformance_run(config)
    if run is not None and not run.is_worker:
        share = TimeShare()
        _ACTIVE.append(share)
        run.selection.observe(share.observe)


def pytest_unconfigure(config: pytest.Config) -> None:
    _ACTIVE.clear()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _ACTIVE:
        _ACTIVE[-1].current = pair(item.nodeid)[0] or "(other tests)"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    impl = pair(report.nodeid)[0]
    if impl is not None and _ACTIVE:
        _ACTIVE[-1].test_seconds[impl] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _ACTIVE:
        return
    result = _ACTIVE[-1].summary()
    tr = terminalreporter
    tr.section("time share (benchmarks.time_share)")
    if not any(row["forward_calls"] for row in result["per_impl"].values()):
        tr.write_line("no implementation call was seen in this process: the checks ran in "
                      "pytest-xdist workers; run with -n 0", yellow=True)
    pct = {k: 100 * (result[k] or 0) for k in ("forward_share", "forward_build_share")}
    tr.write_line(f"session {result['session_seconds']:.1f} s, tests {result['tests_seconds']:.1f}"
                  f" s; inside implementations' forward {result['forward_seconds']:.1f} s "
                  f"= {pct['forward_share']:.1f} % of the session "
                  f"(+ build: {pct['forward_build_share']:.1f} %)")
    tr.write_line(f"{'implementation':<18}{'tests s':>9}{'forward s':>11}{'calls':>8}"
                  f"{'share':>8}{'build s':>9}")
    for impl, row in result["per_impl"].items():
        share_text = "" if row["forward_share"] is None else f"{100 * row['forward_share']:.1f}%"
        tr.write_line(f"{impl:<18}{row['test_seconds']:>9.2f}{row['forward']:>11.2f}"
                      f"{row['forward_calls']:>8}{share_text:>8}{row['build']:>9.2f}")
    path = config.getoption("time_share_json")
    if path:
        with open(path, "w") as fh:
            json.dump(result, fh, indent=2)
