"""One conformance run inside pytest: ``ConformanceRun``, the plugin object of an active run.

It composes the run's concerns, each its own small class: which implementations and how
they load (``conformance.selection``), the crash watch (``conformance.crashwatch``),
collecting outcomes (``conformance.results``), and writing the report
(``conformance.report``). The controller process makes one with a fresh seed; each
pytest-xdist worker makes one from what the controller handed it. Outcomes travel from
the workers in each test report's ``user_properties``, as ``Outcome.as_dict()``, so the
controller alone writes the report.
"""

from __future__ import annotations

import random
import shlex
import sys
from pathlib import Path

import pytest

from conformance.crashwatch import CrashWatch
from conformance.selection import Loaded, Selection, SelectionError

OUTCOME_KEY = "lstm_conformance_outcome"
WORKER_KEY = "lstm_conformance"  # in xdist's workerinput: the controller's seed and crash dir


def pair(nodeid: str) -> tuple[str | None, str | None]:
    """(implementation, invariant id) of a conformance test's node id, else (None, None)."""
    if "test_conformance[" not in nodeid:
        return None, None
    param = nodeid.rsplit("[", 1)[1].rstrip("]")
    impl, _, invariant_id = param.rpartition(":")
    return impl, invariant_id


#: Root causes the terminal lists per implementation; the report has every one.
SHOWN_CAUSES = 8


class ConformanceRun:
    def __init__(self, config: pytest.Config, *, profile: str, report_dir: Path,
                 worker: dict | None) -> None:
        self.config = config
        self.profile = profile
        self.report_dir = report_dir
        try:
            self.selection = Selection(config.getoption("lstm_impl"),
                                       config.getoption("lstm_exclude"))
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from exc
        self.is_worker = worker is not None
        if worker is not None:
            self.seed = worker["seed"]
            self.crash_watch = CrashWatch(Path(worker["crash_dir"]),
                                          config.workerinput["workerid"])
        else:
            self.seed = run_seed(profile, config.getoption("hypothesis_seed", None))
            self.crash_watch = CrashWatch()
        self.collector = None
        self.document: dict | None = None
        self.report_error: str | None = None

    def start(self) -> None:
        """In the controller, before collection: a bad selection is a usage error, and a
        plugin that cannot be loaded is recorded as broken now, so no -k can hide it."""
        if self.is_worker:
            return
        from conformance.results import Collector

        selection = {"impl": self.selection.requested,
                     "keyword": self.config.getoption("keyword") or None}
        self.collector = Collector(self.profile, self.seed, selection,
                                   list(self.config.invocation_params.args))
        try:
            loaded = self.selection.load_all()
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from exc
        for name, one in loaded.items():
            self.collector.implementation(name, load_error=one.load_error, **one.info)

    def worker_input(self) -> dict:
        return {"seed": self.seed, "crash_dir": str(self.crash_watch.directory)}

    # -- collection and running -----------------------------------------------------------
    def pairs(self) -> list[tuple[str, str]]:
        """(implementation, invariant) for every loadable selected implementation."""
        from spec.invariants import INVARIANTS

        try:
            loaded = self.selection.load_all()
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from exc
        return [(name, inv.id) for name, one in loaded.items() if one.subject is not None
                for inv in INVARIANTS]

    def check(self, impl: str, invariant_id: str) -> dict:
        from conformance.outcome import Outcome
        from conformance.profiles import profile_settings
        from conformance.runner import run_check
        from spec.invariants import by_id
        from spec.vocabulary import Status

        loaded = self.selection.load(impl)
        hung = self.crash_watch.hung(impl)
        if hung:
            outcome = Outcome(Status.ERROR, message=f"not run: {hung}")
        else:
            outcome = run_check(loaded.subject, by_id(invariant_id),
                                profile_settings(self.profile), self.seed,
                                declared_tolerance=loaded.tolerance,
                                on_case=self.crash_watch.case if self.is_worker else None)
        apply_known_failure(outcome, loaded, invariant_id)
        result = outcome.as_dict()
        if Status(result["status"]).is_bad or result["status"] == Status.KNOWN_FAILURE:
            result["reproduce"] = self.reproduce(impl, invariant_id)
            for failure in result["failures"]:
                failure["reproduce"] = self.reproduce(impl, invariant_id, failure["excluded"])
        result["impl"] = loaded.info
        return result

    def reproduce(self, impl: str, invariant_id: str, excluded: list[str] = ()) -> str:
        """A command that re-runs one check as this run did, from the directory the run
        started in, in its environment, writing its report beside the full one."""
        seed = "" if self.seed is None else f" --hypothesis-seed={self.seed}"
        report = self.report_dir / "reproduce"
        try:
            report = report.relative_to(self.config.invocation_params.dir)
        except ValueError:
            pass
        without = "".join(f" --lstm-exclude {f}" for f in excluded)
        return (f"{shlex.quote(sys.executable)} -m conformance run --lstm-impl {impl} "
                f"-k '{impl}:{invariant_id}' --lstm-profile {self.profile}{seed}{without} "
                f"--lstm-report-dir {shlex.quote(str(report))}")

    # -- pytest hooks ---------------------------------------------------------------------
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.is_worker:
            self.crash_watch.started(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        impl, invariant_id = pair(report.nodeid)
        if impl is None or self.is_worker:
            return
        outcome = dict(report.user_properties).get(OUTCOME_KEY)
        if outcome is None:
            if not report.failed:
                return
            outcome = self._unfinished(report, impl, invariant_id)
        outcome = dict(outcome)
        info = {k: v for k, v in outcome.pop("impl", {}).items() if v is not None}
        self.collector.implementation(impl, **info)
        if invariant_id not in self.collector.implementations[impl]["results"] \
                or report.when == "call":
            self.collector.record(impl, invariant_id, outcome)

    def _unfinished(self, report: pytest.TestReport, impl: str, invariant_id: str) -> dict:
        """The outcome of a test that never finished: timed out, or its process crashed."""
        from conformance.outcome import Failure, Outcome
        from spec.vocabulary import Status

        timeout = self.config.getoption("timeout", None)
        text = str(report.longrepr) if report.longrepr else ""
        timed_out = "Timeout" in text and "pytest-timeout" in text  # the signal method
        fatal, case = "", None
        worker = getattr(getattr(report, "node", None), "gateway", None)
        crashed = report.when == "???" and worker is not None  # xdist: the worker died
        if crashed:
            fatal, ran, case = self.crash_watch.last_words(worker.id)
            timed_out = not fatal and bool(timeout) and ran is not None and ran >= float(timeout)
        if timed_out:
            self.crash_watch.mark_hung(impl, invariant_id)
            message, kind = (f"timed out after {timeout} s (pytest-timeout; raise the limit "
                             "with --timeout)"), "error:timeout"
        elif crashed:
            message = (f"the process crashed while running this check "
                       f"({fatal or 'it exited without a fatal signal'}); "
                       "the run went on in a new worker")
            kind = "error:crash"
        else:
            message, kind = short(text) or "ended without an outcome", "error:unfinished"
        if case is not None:
            message += f" (while running {describe_case(case)})"
        reproduce = self.reproduce(impl, invariant_id)
        failure = Failure(Status.ERROR, message, {"case": case} if case else None, kind=kind,
                          reproduce=reproduce)
        return {**Outcome(Status.ERROR, duration_s=round(report.duration, 4),
                          counterexample=failure.counterexample, message=message,
                          reproduce=reproduce, failures=[failure.as_dict()]).as_dict(),
                "impl": {}}

    def finish(self, session: pytest.Session) -> None:
        """Write the report (controller only), and fail the session for a broken plugin."""
        from conformance.benchmarks import rows_for
        from conformance.report import ReportError, write_reports

        document = self.collector.document()
        broken = any(e["verdict"] in ("broken", "not-checked")
                     for e in document["implementations"].values())
        if broken and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        benchmarks = rows_for(self.report_dir)
        if benchmarks is not None:
            document["benchmarks"] = benchmarks
        self.document = document
        try:
            from conformance.scripts import write_scripts

            write_scripts(self.report_dir, document)
            write_reports(self.report_dir, document)
        except (ReportError, OSError) as exc:
            self.report_error = str(exc)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def summary(self, tr) -> None:
        """The terminal's closing section: a verdict per implementation, its root causes
        and the likely cause."""
        if self.document is None:
            return
        tr.section("lstm-conformance")
        if self.document["run"].get("partial"):
            tr.write_line("partial run: only the checks selected by -k were made")
        for name, entry in self.document["implementations"].items():
            counts: dict[str, int] = {}
            for result in entry["results"].values():
                counts[result["status"]] = counts.get(result["status"], 0) + 1
            detail = ", ".join(f"{n} {status.replace('_', ' ')}"
                               for status, n in sorted(counts.items()))
            level = f" ({entry['level']})" if entry.get("level") else ""
            tr.write_line(f"{name}: {entry['verdict']}{level}  [{detail}]")
            if entry.get("load_error"):
                tr.write_line(f"    {entry['load_error']}")
            if entry.get("headline"):
                tr.write_line(f"    {entry['headline'][:300]}")
            if entry.get("reason"):
                tr.write_line(f"    {entry['reason']}")
            causes = entry.get("root_causes", [])
            for n, cause in enumerate(causes[:SHOWN_CAUSES], 1):
                tr.write_line(f"    {n}. {cause['headline'][:300]}")
                likely = cause.get("likely_cause")
                if likely:
                    tr.write_line(f"       likely cause: {likely['text']}")
                elif cause.get("evidence"):
                    tr.write_line(f"       no likely cause fits; the evidence: "
                                  f"{cause['evidence']['summary'][:300]}")
            if len(causes) > SHOWN_CAUSES:
                tr.write_line(f"    ... and {len(causes) - SHOWN_CAUSES} more root causes in "
                              "the report")
        if self.report_error:
            tr.write_line(f"report NOT written: {self.report_error}", red=True)
        else:
            tr.write_line(f"report: {self.report_dir / 'index.html'}")

    def close(self) -> None:
        self.crash_watch.close()


def apply_known_failure(outcome, loaded: Loaded, invariant_id: str) -> None:
    """A declared known failure that fails is ``known_failure``; one that passes is
    ``unexpectedly_passed`` (time to remove the declaration)."""
    from spec.vocabulary import Status

    reason = loaded.known_failures.get(invariant_id)
    if reason is None:
        return
    outcome.known_failure_reason = reason
    if Status(outcome.status).is_bad:
        outcome.status = Status.KNOWN_FAILURE
    elif outcome.status == Status.PASSED:
        outcome.status = Status.UNEXPECTEDLY_PASSED
        outcome.message = f"declared a known failure ({reason}), but it passed"


def describe_case(case: dict) -> str:
    """``bias=False, num_layers=2, float64, packed`` : the parts of a case worth reading."""
    defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                "bidirectional": False, "proj_size": 0}
    parts = [f"{k}={case[k]}" for k in defaults if k in case and case[k] != defaults[k]]
    parts += [str(case.get("dtype")), str(case.get("form"))]
    parts += [f"seq_len={case.get('seq_len')}", f"batch={case.get('batch')}"]
    return ", ".join(p for p in parts if p and p != "None")


def run_seed(profile: str, given) -> int | None:
    """The run's seed: --hypothesis-seed if given (as an int when it is one), none for the
    derandomized ci profile, else a fresh random one that the report prints."""
    if given is not None:
        return int(given) if str(given).isdigit() else given
    if profile == "ci":
        return None
    return random.SystemRandom().randrange(2**32)


def short(text: str, limit: int = 2000) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-12:])[-limit:]
