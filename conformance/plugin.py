"""The lstm-conformance pytest plugin, registered through the ``pytest11`` entry point.

It adds the options of DESIGN.md contract 3, parametrizes ``conformance/test_conformance.py``
over (implementation, invariant), and writes ``results.json``, ``index.html`` and
``junit.xml`` at the end of a run that collected conformance tests.

Loading the plugin imports no implementation and does no work: discovery reads entry
points when conformance tests are collected, once per process. Under pytest-xdist the
controller picks the run's seed and hands it to the workers; outcomes travel back in
each report's ``user_properties``, so the controller alone writes the report.

Isolation. Implementations under test are often native code in development: they may
hang or kill the process. A ``pytest conformance`` command line that does not choose
for itself therefore gets ``-n 1`` (one pytest-xdist worker, restarted after a crash,
as often as it takes) and ``--timeout 300 --timeout-method thread`` (pytest-timeout:
a test still running after 300 s ends its worker, which also stops native code that
never returns to Python). Each worker notes the test it starts, and ``faulthandler``
notes a fatal signal, in a crash log; when a worker dies, the controller reads it and
records an ``error`` for that test: "timed out after N s" or "the process crashed
(Fatal Python error: Aborted)". After a timeout, the implementation's remaining checks
are errors at once rather than hanging again. ``-n 0`` turns isolation off: a crash or
a timeout then ends the whole run.
"""

from __future__ import annotations

import faulthandler
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest

OPTION_IMPL = "--impl"
OPTION_PROFILE = "--profile"
OPTION_REPORT_DIR = "--report-dir"
OPTION_LIST = "--list-impls"
OUTCOME_KEY = "lstm_conformance_outcome"
SEED_KEY = "lstm_conformance_seed"
CRASH_DIR_KEY = "lstm_conformance_crash_dir"
DEFAULT_TIMEOUT_S = 300
PROFILE_NAMES = ("quick", "default", "thorough", "ci")
_STATE = pytest.StashKey["ConformanceState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lstm-conformance", "LSTM conformance (pytest conformance ...)")
    group.addoption(OPTION_IMPL, action="append", dest="lstm_impl", metavar="NAME",
                    help="check only this registered implementation (repeatable; default: all)")
    group.addoption(OPTION_PROFILE, dest="lstm_profile", default="default",
                    choices=PROFILE_NAMES,
                    help="hypothesis effort: quick, default, thorough or ci (derandomized)")
    group.addoption(OPTION_REPORT_DIR, dest="lstm_report_dir", default=None, metavar="DIR",
                    help="where results.json, index.html and junit.xml go (default: reports/)")
    group.addoption(OPTION_LIST, action="store_true", dest="lstm_list",
                    help="list registered implementations with their capabilities, and exit")


def _runs_conformance(args: list[str]) -> bool:
    here = Path(__file__).parent.resolve()
    for arg in args:
        if arg.startswith("-"):
            continue
        path = Path(arg.split("::")[0])
        try:
            resolved = path.resolve()
        except OSError:
            continue
        if resolved == here or resolved.parent == here:
            return True
    return False


def _given(args: list[str], *options: str) -> bool:
    return any(a == o or a.startswith(o + "=") or (o == "-n" and a.startswith("-n"))
               for a in args for o in options)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args: list[str]) -> None:
    """Isolation by default for conformance runs (see the module docstring)."""
    if not _runs_conformance(args):
        return
    plugins = early_config.pluginmanager
    if plugins.hasplugin("xdist") and not _given(args, "-n", "--numprocesses", "--dist"):
        args[:0] = ["-n", "1"]
    if plugins.hasplugin("xdist") and not _given(args, "--max-worker-restart"):
        args[:0] = ["--max-worker-restart", "1000"]
    if plugins.hasplugin("timeout") and not _given(args, "--timeout"):
        args[:0] = ["--timeout", str(DEFAULT_TIMEOUT_S)]
    if plugins.hasplugin("timeout") and not _given(args, "--timeout-method", "--timeout_method"):
        args[:0] = ["--timeout-method", "thread"]


def pytest_configure(config: pytest.Config) -> None:
    state = ConformanceState(config)
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "lstm-conformance-state")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistSeed(state), "lstm-conformance-xdist")


def pytest_cmdline_main(config: pytest.Config):
    if config.getoption("lstm_list"):
        from conformance.listing import listing

        print(listing())
        return 0
    return None


def state(config: pytest.Config) -> ConformanceState:
    return config.stash[_STATE]


class _XdistSeed:
    """Gives every xdist worker the controller's seed, so all draw from one run seed."""

    def __init__(self, state: ConformanceState) -> None:
        self.state = state

    def pytest_configure_node(self, node) -> None:
        node.workerinput[SEED_KEY] = self.state.seed
        node.workerinput[CRASH_DIR_KEY] = str(self.state.crash_dir)


class ConformanceState:
    """Everything one run needs: the selection, loaded implementations, the collector."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.profile = config.getoption("lstm_profile")
        self.selected = config.getoption("lstm_impl")
        explicit_dir = config.getoption("lstm_report_dir")
        self.report_dir = Path(explicit_dir) if explicit_dir else config.rootpath / "reports"
        worker = getattr(config, "workerinput", None)
        if worker is not None:
            self.seed = worker[SEED_KEY]
            # A fatal signal in this worker leaves its name and traceback here.
            self.crash_dir = Path(worker[CRASH_DIR_KEY])
            self.crash_log = open(  # noqa: SIM115 - must stay open for faulthandler
                self.crash_dir / f"{worker['workerid']}.log", "w")
        else:
            self.crash_dir = Path(tempfile.mkdtemp(prefix="lstm-conformance-crash-"))
            self.seed = _run_seed(self.profile, config.getoption("hypothesis_seed", None))
        self.is_worker = worker is not None
        self.subjects: dict = {}
        self.load_errors: dict[str, str] = {}
        self.info: dict[str, dict] = {}
        self._collector = None
        self.active = not self.is_worker and _runs_conformance(config.args)
        if self.active:
            # Before collection, in the process that writes the report: a bad selection is
            # a usage error, and a plugin that cannot be loaded is recorded as broken here,
            # so that no -k expression can hide it.
            if explicit_dir:
                _check_writable(self.report_dir)
            for name in self.names():
                self.load(name)
                if name in self.load_errors:
                    self.collector.implementation(name, load_error=self.load_errors[name],
                                                  **self.info[name])

    # -- collection ---------------------------------------------------------------------
    def names(self) -> list[str]:
        from conformance.discovery import registered

        known = registered()
        if not self.selected:
            return list(known)
        unknown = [n for n in self.selected if n not in known]
        if unknown:
            listed = ", ".join(known) or "none (is the project installed?)"
            raise pytest.UsageError(
                f"unknown implementation {', '.join(map(repr, unknown))} for {OPTION_IMPL}; "
                f"registered: {listed}. Register one in the 'lstm_conformance.implementations' "
                "entry-point group (README: Register your implementation).")
        return list(dict.fromkeys(self.selected))

    def load(self, name: str) -> None:
        from conformance.discovery import LoadError, load, registered

        entry = registered()[name]
        info = {"distribution": entry.distribution, "version": entry.version,
                "target": entry.target, "kind": None, "unsupported": []}
        try:
            subject, kind = load(entry)
        except LoadError as exc:
            self.load_errors[name] = str(exc)
        else:
            self.subjects[name] = subject
            info.update(kind=kind, unsupported=sorted(subject.unsupported))
        self.info[name] = info

    def pairs(self) -> list[tuple[str, str]]:
        """(implementation, invariant) for every loadable selected implementation."""
        from spec.invariants import INVARIANTS

        out = []
        for name in self.names():
            if name not in self.info:
                self.load(name)
            if name not in self.load_errors:
                out.extend((name, inv.id) for inv in INVARIANTS)
        return out

    # -- running ------------------------------------------------------------------------
    def check(self, impl: str, invariant_id: str) -> dict:
        from conformance.profiles import profile_settings
        from conformance.runner import Outcome, run_check
        from spec.invariants import by_id

        if self._hung(impl):
            outcome = Outcome("error", message=f"not run: {self._hung(impl)}").as_dict()
        else:
            outcome = run_check(self.subjects[impl], by_id(invariant_id),
                                profile_settings(self.profile), self.seed).as_dict()
        outcome["reproduce"] = (self.reproduce(impl, invariant_id)
                                if outcome["status"] in ("failed", "error") else None)
        outcome["impl"] = self.info[impl]
        return outcome

    def reproduce(self, impl: str, invariant_id: str) -> str:
        seed = "" if self.seed is None else f" --hypothesis-seed={self.seed}"
        return (f"pytest conformance --impl {impl} -k '{impl}:{invariant_id}' "
                f"--profile {self.profile}{seed}")

    # -- results ------------------------------------------------------------------------
    @property
    def collector(self):
        if self._collector is None:
            from conformance.results import Collector

            selection = {"impl": self.selected, "keyword": self.config.getoption("keyword") or None}
            self._collector = Collector(self.profile, self.seed, selection,
                                        list(self.config.invocation_params.args))
        return self._collector

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        impl, invariant_id = _pair(report.nodeid)
        if impl is None:
            return
        outcome = dict(report.user_properties).get(OUTCOME_KEY)
        if outcome is None:
            if not report.failed:
                return
            # No outcome: the test never finished (timed out, or its process crashed).
            message = self._unfinished(report, impl, invariant_id)
            outcome = {"status": "error", "examples": 0, "not_applicable_examples": 0,
                       "duration_s": round(report.duration, 4), "counterexample": None,
                       "message": message, "hypothesis_reproduce": None,
                       "reproduce": self.reproduce(impl, invariant_id), "impl": {}}
        if self.is_worker:
            return
        outcome = dict(outcome)
        info = outcome.pop("impl", {})
        known = {k: v for k, v in info.items() if v is not None}
        self.collector.implementation(impl, **known)
        if invariant_id not in self.collector.implementations[impl]["results"] \
                or report.when == "call":
            self.collector.record(impl, invariant_id, outcome)

    # -- isolation ----------------------------------------------------------------------
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """In a worker: note which test starts, and when, for the controller to read."""
        if self.is_worker:
            faulthandler.enable(self.crash_log)  # after pytest's own faulthandler setup
            note = {"nodeid": item.nodeid, "start": time.time()}
            self.crash_log.write(f"STARTED {json.dumps(note)}\n")
            self.crash_log.flush()

    def _hung(self, impl: str) -> str | None:
        marker = self.crash_dir / f"hung-{impl}"
        return marker.read_text() if marker.exists() else None

    def _unfinished(self, report: pytest.TestReport, impl: str, invariant_id: str) -> str:
        """Why a test ended without an outcome: a timeout, a crash, or something else."""
        timeout = self.config.getoption("timeout", None)
        text = str(report.longrepr) if report.longrepr else ""
        timed_out = "Timeout" in text and "pytest-timeout" in text  # the signal method
        fatal = ""
        worker = getattr(getattr(report, "node", None), "gateway", None)
        if report.when == "???" and worker is not None:  # xdist: the worker died
            log = self.crash_dir / f"{worker.id}.log"
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            fatal = next((ln for ln in lines if ln.startswith("Fatal Python error")), "")
            started = [json.loads(ln.split(" ", 1)[1]) for ln in lines
                       if ln.startswith("STARTED ")]
            ran = time.time() - started[-1]["start"] if started else 0.0
            timed_out = not fatal and bool(timeout) and ran >= float(timeout)
        if timed_out:
            marker = self.crash_dir / f"hung-{impl}"
            marker.write_text(f"{impl} timed out in {invariant_id} earlier in this run")
            return f"timed out after {timeout} s (pytest-timeout; raise the limit with --timeout)"
        if worker is not None and report.when == "???":
            return (f"the process crashed while running this check "
                    f"({fatal or 'it exited without a fatal signal'}); "
                    "the run went on in a new worker")
        return _short(text) or "ended without an outcome"


def _run_seed(profile: str, given) -> int | None:
    """The run's seed: --hypothesis-seed if given (as an int when it is one), none for the
    derandomized ci profile, else a fresh random one that the report prints."""
    if given is not None:
        return int(given) if str(given).isdigit() else given
    if profile == "ci":
        return None
    return random.SystemRandom().randrange(2**32)


def _short(text: str, limit: int = 2000) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    tail = "\n".join(lines[-12:])
    return tail[-limit:]


def pytest_unconfigure(config: pytest.Config) -> None:
    s = config.stash.get(_STATE, None)
    if s is not None and not s.is_worker:
        shutil.rmtree(s.crash_dir, ignore_errors=True)


def _pair(nodeid: str) -> tuple[str | None, str | None]:
    if "test_conformance[" not in nodeid:
        return None, None
    param = nodeid.rsplit("[", 1)[1].rstrip("]")
    impl, _, invariant_id = param.rpartition(":")
    return impl, invariant_id


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise pytest.UsageError(
            f"cannot write the report to {OPTION_REPORT_DIR} {directory}: {exc.strerror or exc}. "
            "Choose a directory you can write to.") from exc


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if {"impl", "invariant_id"} <= set(metafunc.fixturenames):
        pairs = state(metafunc.config).pairs()
        metafunc.parametrize(("impl", "invariant_id"), pairs,
                             ids=[f"{impl}:{inv}" for impl, inv in pairs])


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    s = state(config)
    if not s.active:
        return None
    seed = "derandomized" if s.seed is None else f"seed {s.seed}"
    return [f"lstm-conformance: profile {s.profile}, {seed}, report dir {s.report_dir}"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    s = state(session.config)
    if s.is_worker or s._collector is None:
        return
    from conformance.report import ReportError, write_reports

    if s.load_errors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a broken plugin is not conformant
    from conformance.benchmarks import rows_for

    document = s.collector.document()
    benchmarks = rows_for(s.report_dir)
    if benchmarks is not None:
        document["benchmarks"] = benchmarks
    s.document = document
    try:
        write_reports(s.report_dir, document)
    except ReportError as exc:
        s.report_error = str(exc)
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    s = state(config)
    document = getattr(s, "document", None)
    if document is None:
        return
    tr = terminalreporter
    tr.section("lstm-conformance")
    for name, entry in document["implementations"].items():
        counts = {}
        for result in entry["results"].values():
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        detail = ", ".join(f"{n} {status.replace('_', ' ')}"
                           for status, n in sorted(counts.items()))
        level = f" ({entry['level']})" if entry.get("level") else ""
        tr.write_line(f"{name}: {entry['verdict']}{level}  [{detail}]")
        if entry.get("load_error"):
            tr.write_line(f"    {entry['load_error']}")
    error = getattr(s, "report_error", None)
    if error:
        tr.write_line(f"report NOT written: {error}", red=True)
    else:
        tr.write_line(f"report: {s.report_dir / 'index.html'}")
