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

import json
import os
import random
import re
import shlex
import sys
from pathlib import Path

import pytest

from lstm_conformance.crashwatch import CrashWatch
from lstm_conformance.outcome import describe_case
from lstm_conformance.selection import Loaded, Selection, SelectionError

OUTCOME_KEY = "lstm_conformance_outcome"
WORKER_KEY = "lstm_conformance"  # in xdist's workerinput: the controller's seed and crash dir
#: The attribute an implementation (its class, or its backend object) sets to declare the
#: time limit, in seconds, that each of its checks needs: a slow implementation's own
#: ``--timeout``. An explicit ``--timeout`` on the command line wins over it.
TIMEOUT_ATTRIBUTE = "lstm_conformance_timeout"


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
                                       config.getoption("lstm_exclude"),
                                       device=(worker or {}).get(
                                           "device", config.getoption("lstm_device")))
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from exc
        self.is_worker = worker is not None
        if worker is not None:
            # The heavy imports (torch, hypothesis, the spec) now, before any check's time
            # limit starts: a fresh worker's first check must not pay for them under load.
            import lstm_conformance.runner  # noqa: F401

            self.seed = worker["seed"]
            self.crash_watch = CrashWatch(Path(worker["crash_dir"]),
                                          config.workerinput["workerid"])
            self.timeout_given = worker.get("timeout_given", False)
            self.tf32 = worker.get("tf32", "torch-default")
        else:
            self.seed = run_seed(profile, config.getoption("hypothesis_seed", None))
            self.crash_watch = CrashWatch()
            self.timeout_given = timeout_given(config)
            self.tf32 = config.getoption("lstm_tf32")
        set_tf32(self.tf32)
        self._blocked: dict[str, str | None] = {}
        self.collector = None
        self.document: dict | None = None
        self.report_error: str | None = None

    def start(self) -> None:
        """In the controller, before collection: a bad selection is a usage error, and a
        plugin that cannot be loaded is recorded as broken now, so no -k can hide it."""
        if self.is_worker:
            return
        from lstm_conformance.results import Collector

        selection = {"impl": self.selection.requested,
                     "keyword": self.config.getoption("keyword") or None}
        try:
            self.selection.check_device()
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from exc
        self.collector = Collector(self.profile, self.seed, selection,
                                   list(self.config.invocation_params.args),
                                   device=self.device, precision=self.precision())
        try:
            loaded = self.selection.load_all()
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from exc
        for name, one in loaded.items():
            self.collector.implementation(name, load_error=one.load_error, **one.info)

    def worker_input(self) -> dict:
        return {"seed": self.seed, "crash_dir": str(self.crash_watch.directory),
                "timeout_given": self.timeout_given, "device": self.device,
                "tf32": self.tf32}

    @property
    def device(self) -> str:
        return self.selection.device

    def precision(self) -> dict:
        """The precision flags in force (``spec.precision.policy``)."""
        from lstm_conformance.spec.precision import policy

        return policy(self.device)

    def precision_line(self) -> str:
        from lstm_conformance.spec.precision import describe

        return describe(self.precision())

    def timeout_for(self, impl: str) -> float | None:
        """The time limit of ``impl``'s checks: ``--timeout`` if given on the command line,
        else the implementation's declared ``lstm_conformance_timeout``, else the run's
        default (pytest-timeout's ``--timeout``; None without pytest-timeout)."""
        run_limit = self.config.getoption("timeout", None)
        if self.timeout_given:
            return run_limit
        loaded = self.selection.load(impl)
        declared = None if loaded.subject is None else declared_timeout(loaded.subject.factory)
        return run_limit if declared is None else declared

    # -- collection and running -----------------------------------------------------------
    def pairs(self) -> list[tuple[str, str]]:
        """(implementation, invariant) for every loadable selected implementation, with the
        invariants of the run's profile (``conformance.profiles.invariants_for``)."""
        from lstm_conformance.profiles import invariants_for

        try:
            loaded = self.selection.load_all()
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from exc
        return [(name, inv.id) for name, one in loaded.items() if one.subject is not None
                for inv in invariants_for(self.profile)]

    def check(self, impl: str, invariant_id: str) -> dict:
        from lstm_conformance.profiles import profile_settings
        from lstm_conformance.runner import run_check
        from lstm_conformance.spec.invariants import by_id
        from lstm_conformance.spec.vocabulary import Status

        loaded = self.selection.load(impl)
        on_case = self.crash_watch.case if self.is_worker else None
        blocked = self.blocked(impl, on_case)
        if blocked is None:
            conditions = self.learned_conditions(impl)
            outcome = run_check(loaded.subject, by_id(invariant_id),
                                profile_settings(self.profile), self.seed,
                                declared_tolerance=loaded.tolerance, on_case=on_case,
                                on_found=self.crash_watch.found if self.is_worker else None,
                                conditions=conditions)
            self.learned_conditions(impl, conditions)
        else:  # its simplest case once, no search: the rest is blocked by that cause
            outcome = run_check(loaded.subject, by_id(invariant_id), simplest_settings(),
                                None, explore=False, declared_tolerance=loaded.tolerance,
                                on_case=on_case)
            note = (f"{impl} cannot run its simplest case ({blocked}), so this check ran "
                    "only its simplest case, once; the rest of the profile was not run")
            outcome.message = f"{outcome.message} [{note}]" if outcome.message else note
        apply_known_failure(outcome, loaded, invariant_id)
        result = outcome.as_dict()
        if Status(result["status"]).is_bad or result["status"] == Status.KNOWN_FAILURE:
            result["reproduce"] = self.reproduce(impl, invariant_id)
            for failure in result["failures"]:
                failure["reproduce"] = self.reproduce(impl, invariant_id, failure["excluded"])
        result["impl"] = loaded.info
        return result

    def blocked(self, impl: str, on_case=None) -> str | None:
        """Why ``impl`` cannot run at all (its simplest case, called plainly, raised), or
        None when it can. Probed once per run: the first worker to ask writes the answer
        beside the crash logs, for every later worker."""
        if impl in self._blocked:
            return self._blocked[impl]
        marker = self.crash_watch.directory / f"probed-{impl}.json"
        if marker.exists():
            why = json.loads(marker.read_text())["blocked"]
        else:
            why = probe_simplest(self.selection.load(impl).subject, on_case)
            marker.write_text(json.dumps({"blocked": why}))
        self._blocked[impl] = why
        return why

    def learned_conditions(self, impl: str, learned: dict | None = None) -> dict:
        """The conditions ``impl``'s checks have learned so far, by error
        (``conformance.outcome.same_failure_key``), kept beside the crash logs so that a
        replaced or a parallel worker reuses them; with ``learned``, store those."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", impl)
        path = self.crash_watch.directory / f"conditions-{safe}.json"
        if learned is not None:
            known = json.loads(path.read_text()) if path.exists() else {}
            path.write_text(json.dumps({**known, **learned}))
            return learned
        return json.loads(path.read_text()) if path.exists() else {}

    def reproduce(self, impl: str, invariant_id: str, excluded: list[str] = ()) -> str:
        """A command that re-runs one check as this run did, from the directory the run
        started in, in its environment, writing its report in a directory of its own under
        the full report's ``reproduce/`` (a reproduce run's own commands write beside it)."""
        seed = "" if self.seed is None else f" --hypothesis-seed={self.seed}"
        root = self.report_dir.parent if self.report_dir.parent.name == "reproduce" \
            else self.report_dir / "reproduce"
        name = "__".join([impl, invariant_id, *(f"without-{f}" for f in excluded)])
        report = root / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        try:
            report = report.relative_to(self.config.invocation_params.dir)
        except ValueError:
            pass
        without = "".join(f" --lstm-exclude {f}" for f in excluded)
        if self.device != "cpu":
            without += f" --lstm-device {shlex.quote(self.device)}"
        if self.tf32 != "torch-default":
            without += f" --lstm-tf32 {self.tf32}"
        return (f"{shlex.quote(sys.executable)} -m lstm_conformance run --lstm-impl {impl} "
                f"-k '{impl}:{invariant_id}' --lstm-profile {self.profile}{seed}{without} "
                f"--lstm-report-dir {shlex.quote(str(report))}")

    # -- pytest hooks ---------------------------------------------------------------------
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Each check's time limit: an implementation's declared one becomes a
        ``timeout`` mark on its checks (pytest-timeout reads it)."""
        if not self.config.pluginmanager.hasplugin("timeout"):
            return
        run_limit = self.config.getoption("timeout", None)
        for item in items:
            impl, _ = pair(item.nodeid)
            if impl is None:
                continue
            limit = self.timeout_for(impl)
            if limit != run_limit and limit is not None:
                item.add_marker(pytest.mark.timeout(limit))

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.is_worker:
            impl, _ = pair(item.nodeid)
            self.crash_watch.started(item.nodeid, None if impl is None
                                     else self.timeout_for(impl))

    @pytest.hookimpl(tryfirst=True)  # before pytest's own count of failed tests
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        impl, invariant_id = pair(report.nodeid)
        if impl is None or self.is_worker:
            return
        outcome = dict(report.user_properties).get(OUTCOME_KEY)
        if outcome is None:
            if not report.failed:
                return
            outcome = self._unfinished(report, impl, invariant_id)
            if outcome["status"] == "known_failure":  # a declared crash: xfail, as in checks
                report.outcome = "skipped"
                report.wasxfail = (f"known failure ({outcome['known_failure_reason']}): "
                                   f"{outcome['message']}")
        outcome = dict(outcome)
        info = {k: v for k, v in outcome.pop("impl", {}).items() if v is not None}
        self.collector.implementation(impl, **info)
        if invariant_id not in self.collector.implementations[impl]["results"] \
                or report.when == "call":
            self.collector.record(impl, invariant_id, outcome)

    def _unfinished(self, report: pytest.TestReport, impl: str, invariant_id: str) -> dict:
        """The outcome of a test that never finished: timed out, or its process crashed.
        Only this check is lost: xdist replaces the worker and the others run."""
        from lstm_conformance.outcome import Failure, Outcome
        from lstm_conformance.spec.vocabulary import Status

        limit = self.timeout_for(impl)
        text = str(report.longrepr) if report.longrepr else ""
        timed_out = "Timeout" in text and "pytest-timeout" in text  # the signal method
        worker = getattr(getattr(report, "node", None), "gateway", None)
        crashed = report.when == "???" and worker is not None  # xdist: the worker died
        words = self.crash_watch.last_words(worker.id) if crashed else None
        ran = words.ran if words is not None else None
        if words is not None:
            limit = words.timeout if words.timeout is not None else limit
            status = exit_status(worker)
            timed_out = (not words.fatal and status in (1, None) and bool(limit)
                         and ran is not None and ran >= float(limit))
        case = words.case if words is not None else None
        if timed_out:
            took = f"; it ran {ran:.0f} s" if ran is not None else ""
            message = (f"timed out after {limit:g} s (pytest-timeout{took}); the run went on "
                       "in a new worker. A slow implementation can declare the time each "
                       f"check needs ({TIMEOUT_ATTRIBUTE} = SECONDS on its class or backend), "
                       "or the run can raise the limit with --timeout SECONDS")
            kind = "error:timeout"
        elif crashed:
            message = (f"the process crashed while running this check (it "
                       f"{how_it_died(words, exit_status(worker))}); the run went on in a "
                       "new worker")
            kind = "error:crash"
        else:
            message, kind = short(text) or "ended without an outcome", "error:unfinished"
        reproduce = self.reproduce(impl, invariant_id)
        counterexample = None
        if case is not None and case.get("program"):  # a state machine's operations
            case = dict(case)
            program = case.pop("program")
            message += f" (while running operation {len(program)} of a program on " \
                       f"{describe_case(case)})"
            counterexample = {"case": case, "program": program}
        elif case is not None:
            message += f" (while running {describe_case(case)})"
            counterexample = {"case": case}
            if words.extra is not None:
                counterexample["extra"] = words.extra
        condition = None
        if crashed and not timed_out and case is not None:
            condition = self._crash_condition(impl, invariant_id, counterexample, limit,
                                              how_it_died(words, exit_status(worker)))
        failure = Failure(Status.ERROR, message, counterexample, kind=kind,
                          condition=condition, reproduce=reproduce).as_dict()
        found = [] if words is None else [f for f in words.found if f.get("kind") != kind]
        for earlier in found:
            earlier["reproduce"] = self.reproduce(impl, invariant_id, earlier.get("excluded", ()))
        examples = max(words.cases - 1, 0) if words is not None else 0
        outcome = Outcome(Status.ERROR, examples=examples,
                          duration_s=round(ran if ran is not None else report.duration, 4),
                          counterexample=counterexample, message=message,
                          reproduce=reproduce, failures=[failure, *found])
        # a check declared to fail for a known reason may fail by crashing (a framework's
        # native fault, reproduced by the adapter); it is then that known failure
        apply_known_failure(outcome, self.selection.load(impl), invariant_id)
        return {**outcome.as_dict(), "impl": {}}

    def _crash_condition(self, impl: str, invariant_id: str, counterexample: dict,
                         limit: float | None, died: str) -> dict | None:
        """The crash's condition, found by the runner's search with each probe in a fresh
        process (``conformance.crashsearch``), so that the probes' own crashes do not end
        it; all its probes together get the check's time limit. The same death on a case
        of the same features as a crash already searched (a crash on every call, met by
        every check) has the condition found then."""
        from lstm_conformance.crashsearch import crash_condition, features_of
        from lstm_conformance.spec.capabilities import describe_condition

        features = features_of(counterexample)
        key = None if features is None else f"crash|{died}|{','.join(sorted(features))}"
        learned = self.learned_conditions(impl)
        if key is not None and key in learned:
            features = frozenset(learned[key])
        else:
            features = crash_condition(impl, invariant_id, counterexample,
                                       profile=self.profile,
                                       seed=self.seed, exclude=sorted(self.selection.exclude),
                                       timeout=float(limit) if limit else 300.0)
            if features is None:
                return None
            if key is not None:
                self.learned_conditions(impl, {key: sorted(features)})
        return {"features": sorted(features), "text": describe_condition(features)}

    def finish(self, session: pytest.Session) -> None:
        """Write the report (controller only), and fail the session for a broken plugin."""
        from lstm_conformance.benchmarks import rows_for
        from lstm_conformance.report import ReportError, write_reports

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
            from lstm_conformance.scripts import write_scripts

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
    from lstm_conformance.spec.vocabulary import Status

    reason = loaded.known_failures.get(invariant_id)
    if reason is None:
        return
    outcome.known_failure_reason = reason
    if Status(outcome.status).is_bad:
        outcome.status = Status.KNOWN_FAILURE
    elif outcome.status == Status.PASSED:
        outcome.status = Status.UNEXPECTEDLY_PASSED
        outcome.message = f"declared a known failure ({reason}), but it passed"


def timeout_given(config: pytest.Config) -> bool:
    """Whether the user gave ``--timeout`` (on the command line, in PYTEST_ADDOPTS or in
    addopts), rather than the plugin's default."""
    from lstm_conformance.plugin import _given

    args = list(config.invocation_params.args)
    args += shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    try:
        args += list(config.getini("addopts"))
    except ValueError:
        pass
    return _given(args, "--timeout")


def declared_timeout(factory) -> float | None:
    """The implementation's ``lstm_conformance_timeout`` (on its class, or on the backend
    object behind it), in seconds; None when it declares none or a value that is not a
    positive number."""
    for target in (factory, getattr(factory, "backend", None)):
        value = getattr(target, TIMEOUT_ATTRIBUTE, None)
        if value is None:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            return None
        return seconds if seconds > 0 else None
    return None


def exit_status(gateway) -> int | None:
    """A dead xdist worker's exit status (negative: the signal that killed it), or None
    where execnet does not say."""
    popen = getattr(getattr(gateway, "_io", None), "popen", None)
    if popen is None:
        return None
    try:
        return popen.wait(timeout=10)
    except Exception:
        return None


def how_it_died(words, status: int | None) -> str:
    """``was killed by signal SIGSEGV (Fatal Python error: Segmentation fault)``, ``exited
    with status 3``, and what may have hidden a signal's report."""
    import signal

    if status is not None and status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = str(-status)
        if words is not None and words.fatal:
            return f"was killed by signal {name} ({words.fatal})"
        return (f"was killed by signal {name}, without faulthandler's report: something, "
                "likely the framework's own signal handler, had replaced faulthandler's "
                "handler (look for its own report in the run's output)")
    if words is not None and words.fatal:
        return f"was killed by a fatal signal ({words.fatal})"
    died = f"exited with status {status}" if status is not None else "ended"
    died += " without a fatal-signal report"
    if words is not None and words.replaced:
        died += (f" (during this check something, likely the framework's own signal handler, "
                 f"replaced the handler of {', '.join(words.replaced)}: a fatal signal it "
                 "caught may have been turned into this exit, and its report lost)")
    elif status is not None:
        died += " (an exit() or os._exit() in the implementation or its native code)"
    return died


def simplest_settings():
    """One example, the simplest the strategy makes (hypothesis tries it first), no
    replayed failures and no shrinking: for an implementation that cannot run at all."""
    from hypothesis import Phase, settings

    from lstm_conformance.profiles import profile_settings

    return settings(profile_settings("quick"), max_examples=1, database=None,
                    phases=(Phase.explicit, Phase.generate))


def probe_simplest(subject, on_case=None) -> str | None:
    """Call ``subject`` plainly on the simplest case it supports: None when the call works
    (whatever its answer), else the error it raised, in one line."""
    from hypothesis import HealthCheck, Phase, find, settings

    from lstm_conformance.spec.capabilities import supported
    from lstm_conformance.spec.errors import ImplementationError, NotApplicable
    from lstm_conformance.spec.strategies import cases

    # The generate phase's first example is the simplest the strategy makes (hypothesis
    # tries its all-simplest choices first), so one example and no shrinking give it at
    # once; shrinking an always-true predicate toward it cost about 5 s per implementation.
    try:
        case = find(cases(supported=supported(subject.unsupported)), lambda _: True,
                    settings=settings(database=None, max_examples=1, phases=(Phase.generate,),
                                      suppress_health_check=list(HealthCheck)))
    except Exception:
        return None  # nothing to probe with: the checks will tell
    if on_case is not None:
        on_case(case.describe(), None)
    try:
        subject.run(case)
    except NotApplicable:
        return None
    except ImplementationError as exc:
        return str(exc).splitlines()[0][:500]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    return None


def set_tf32(choice: str) -> None:
    """Set torch's TF32 flags as ``--lstm-tf32`` says (``torch-default`` leaves them)."""
    if choice == "torch-default":
        return
    import torch

    torch.backends.cuda.matmul.allow_tf32 = choice == "on"
    torch.backends.cudnn.allow_tf32 = choice == "on"


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
