"""Where a conformance run's wall time goes: inside the implementations, or the suite's own.

A pytest plugin for measuring, not for everyday runs::

    python -m pytest conformance -p benchmarks.time_share --profile default \\
        [--time-share-json FILE] ...

It wraps, for the run's duration, the few places where the suite hands control to an
implementation, and adds up wall-clock time (``time.perf_counter``, no profiler, so
Python-heavy and C-heavy code are measured alike):

* ``forward``: the implementation's call, ``module(input, hx)``, as ``Subject.call``
  makes it (``spec.harness._call`` with the module): the headline number;
* ``build``: ``Subject.build``: constructor, ``.to(dtype)``, ``load_state_dict``, ``eval()``;
* ``autograd``: ``torch.autograd.grad`` / ``torch.autograd.backward`` made by invariants
  (the implementation's backward *and* the float64 oracle's, not told apart);
* ``oracle``: ``spec.oracle.lstm_forward`` called by the invariants (not when the
  ``numpy-reference`` implementation runs it as its forward: that is ``forward``).

Everything else (hypothesis generation and shrinking, the harness's result checks,
comparisons, collection, reporting) is the suite's own time. At the end it prints the
split per implementation and overall, as seconds and as shares of the time from
configure to the end of the session.
"""

from __future__ import annotations

import functools
import json
import time
from collections import defaultdict

import pytest

BUCKETS = ("forward", "build", "autograd", "oracle")


class _TimeShare:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.test_seconds: dict[str, float] = defaultdict(float)
        self.inside = 0  # > 0 while an implementation runs: nested oracle calls are its own
        self.current = "(outside tests)"  # the implementation of the running test
        self.undo: list = []

    def add(self, bucket: str, seconds: float) -> None:
        self.seconds[self.current][bucket] += seconds
        self.calls[self.current][bucket] += 1

    def patch(self, owner, name: str, wrapper) -> None:
        original = getattr(owner, name)
        setattr(owner, name, functools.wraps(original)(wrapper(original)))
        self.undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self.undo):
            setattr(owner, name, original)
        self.undo.clear()

    # -- the wrappers -------------------------------------------------------------------
    def install(self) -> None:
        import sys

        import torch

        import spec.harness as harness
        import spec.oracle as oracle

        def timed_call(original):
            def call(what, fn, *args, **kwargs):
                if not isinstance(fn, torch.nn.Module) and not _is_module_call(what):
                    return original(what, fn, *args, **kwargs)
                return self._timed("forward", original, (what, fn, *args), kwargs)
            return call

        def timed_build(original):
            def build(subject, *args, **kwargs):
                return self._timed("build", original, (subject, *args), kwargs)
            return build

        def timed_autograd(original):
            def run(*args, **kwargs):
                return self._timed("autograd", original, args, kwargs)
            return run

        def timed_oracle(original):
            def run(*args, **kwargs):
                if self.inside:
                    return original(*args, **kwargs)
                return self._timed("oracle", original, args, kwargs, inside=False)
            return run

        self.patch(harness, "_call", timed_call)
        self.patch(harness.Subject, "build", timed_build)
        self.patch(torch.autograd, "grad", timed_autograd)
        self.patch(torch.autograd, "backward", timed_autograd)
        wrapped_oracle = timed_oracle(oracle.lstm_forward)
        self.undo.append((oracle, "lstm_forward", oracle.lstm_forward))
        oracle.lstm_forward = wrapped_oracle
        # modules that already bound the oracle by name (the invariants, numpy-reference)
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith(("spec.", "implementations.")) \
                    and getattr(module, "lstm_forward", None) is self.undo[-1][2]:
                self.undo.append((module, "lstm_forward", module.lstm_forward))
                module.lstm_forward = wrapped_oracle
        self._wrapped_oracle = wrapped_oracle

    def _timed(self, bucket, fn, args, kwargs, inside: bool = True):
        self.inside += inside
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.add(bucket, time.perf_counter() - start)
            self.inside -= inside

    # -- the summary --------------------------------------------------------------------
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
        autograd = sum(v["autograd"] for v in per_impl.values())
        return {
            "session_seconds": round(total, 3),
            "tests_seconds": round(sum(self.test_seconds.values()), 3),
            "forward_seconds": round(forward, 3),
            "forward_share": round(forward / total, 4) if total else None,
            "forward_build_share": round(inside / total, 4) if total else None,
            "forward_build_autograd_share": round((inside + autograd) / total, 4)
            if total else None,
            "per_impl": per_impl,
        }


def _is_module_call(what: str) -> bool:
    return what.endswith(("(input)", "(input, hx)"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--time-share-json", default=None, metavar="FILE",
                     help="benchmarks.time_share: also write the split as JSON to FILE")


_SHARE: list[_TimeShare] = []


def _impl_of(nodeid: str) -> str | None:
    if "test_conformance[" not in nodeid:
        return None
    return nodeid.rsplit("[", 1)[1].rstrip("]").rpartition(":")[0]


def pytest_configure(config: pytest.Config) -> None:
    share = _TimeShare()
    share.install()
    _SHARE.append(share)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _SHARE:
        _SHARE.pop().restore()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _SHARE:
        _SHARE[-1].current = _impl_of(item.nodeid) or "(other tests)"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    impl = _impl_of(report.nodeid)
    if impl is not None and _SHARE:
        _SHARE[-1].test_seconds[impl] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _SHARE:
        return
    result = _SHARE[-1].summary()
    tr = terminalreporter
    tr.section("time share (benchmarks.time_share)")
    if not any(row["forward_calls"] for row in result["per_impl"].values()):
        tr.write_line("no implementation call was seen in this process: the checks ran in "
                      "pytest-xdist workers; run with -n 0", yellow=True)
    pct = {k: 100 * (result[k] or 0) for k in
           ("forward_share", "forward_build_share", "forward_build_autograd_share")}
    tr.write_line(f"session {result['session_seconds']:.1f} s, tests {result['tests_seconds']:.1f}"
                  f" s; inside implementations' forward {result['forward_seconds']:.1f} s "
                  f"= {pct['forward_share']:.1f} % of the session "
                  f"(+ build: {pct['forward_build_share']:.1f} %, "
                  f"+ build + autograd: {pct['forward_build_autograd_share']:.1f} %)")
    tr.write_line(f"{'implementation':<18}{'tests s':>9}{'forward s':>11}{'calls':>8}"
                  f"{'share':>8}{'build s':>9}{'autograd s':>11}{'oracle s':>10}")
    for impl, row in result["per_impl"].items():
        share = "" if row["forward_share"] is None else f"{100 * row['forward_share']:.1f}%"
        tr.write_line(f"{impl:<18}{row['test_seconds']:>9.2f}{row['forward']:>11.2f}"
                      f"{row['forward_calls']:>8}{share:>8}{row['build']:>9.2f}"
                      f"{row['autograd']:>11.2f}{row['oracle']:>10.2f}")
    path = config.getoption("time_share_json")
    if path:
        with open(path, "w") as fh:
            json.dump(result, fh, indent=2)
