"""The lstm-conformance pytest plugin, registered through the ``pytest11`` entry point.

A ``pytest11`` plugin is loaded into every pytest session of an environment, so this one
is a guest: its options carry the ``--lstm-`` prefix, loading it imports no
implementation, and a session that is not a conformance run never sees it (no crash log,
no faulthandler change, no temporary directory, no report). A session is a conformance run
when it collects the suite's test module (``pytest conformance`` in a checkout, ``pytest
--pyargs lstm_conformance`` anywhere, ``lstm-conformance run``) or gives one of the
``--lstm-`` options.

In a conformance run the plugin parametrizes ``test_conformance`` over (implementation,
invariant) and, at the end, writes ``results.json``, ``index.html`` and ``junit.xml``
(``lstm_conformance.session.ConformanceRun``).

Isolation. Implementations under test may hang or kill the process, so a conformance run
that does not choose for itself gets ``-n 1`` (one pytest-xdist worker, restarted after a
crash, as often as it takes) and ``--timeout 300 --timeout-method thread``
(pytest-timeout; longer at the thorough and stress profiles, ``DEFAULT_TIMEOUT_S``).
``-n 0`` turns isolation off: a crash or a timeout then ends the run.

Asleep unless asked. This module imports only pytest and the standard library; everything
else of the suite (``lstm_conformance.session`` and through it the specification, torch, numpy,
hypothesis) is imported after a session has been found to be a conformance run, so an
unrelated session of the environment pays nothing for it (``tests/test_good_guest.py``).

One name. The suite is the import package ``lstm_conformance`` (in a checkout, the folder
``conformance/``), and pytest meets its test module as a file: the collection hooks below
make sure the file is imported under that package name alone, however pytest would
derive a name from the folders.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

OPTION_IMPL = "--lstm-impl"
OPTION_PROFILE = "--lstm-profile"
OPTION_REPORT_DIR = "--lstm-report-dir"
OPTION_LIST = "--lstm-list-impls"
OPTION_EXCLUDE = "--lstm-exclude"
OPTION_DEVICE = "--lstm-device"
OPTION_TF32 = "--lstm-tf32"
OUR_OPTIONS = (OPTION_IMPL, OPTION_PROFILE, OPTION_REPORT_DIR, OPTION_LIST, OPTION_EXCLUDE,
               OPTION_DEVICE, OPTION_TF32)
PROFILE_NAMES = ("quick", "default", "thorough", "ci", "stress")
#: What --lstm-tf32 does to torch's TF32 flags: leave them as torch sets them, or turn both
#: (matrix products and cuDNN) on or off.
TF32_CHOICES = ("torch-default", "on", "off")
#: Each check's time limit unless --timeout is given, by profile: 300 s at 25 examples,
#: and as many times more as a profile draws (the thorough profile's 200 examples of the
#: costliest check, gradients-at-scale, took more than 300 s on a busy 2-core machine);
#: the stress profile's checks call at production sizes (minutes per case on a Python loop).
DEFAULT_TIMEOUT_S = {"quick": 300, "default": 300, "ci": 300, "thorough": 2400, "stress": 1800}
# in xdist's workerinput: the controller's seed and crash dir; the same string as
# lstm_conformance.session.WORKER_KEY, kept here so that deciding needs no import of the session
WORKER_KEY = "lstm_conformance"
_RUN = pytest.StashKey["ConformanceRun"]()
PACKAGE = "lstm_conformance"
TEST_MODULE = f"{PACKAGE}.test_conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lstm-conformance", "LSTM conformance (pytest conformance ...)")
    group.addoption(OPTION_IMPL, action="append", dest="lstm_impl", metavar="NAME",
                    help="check only this registered implementation (repeatable; default: all)")
    group.addoption(OPTION_PROFILE, dest="lstm_profile", default="default",
                    choices=PROFILE_NAMES,
                    help="hypothesis effort: quick, default, thorough or ci (derandomized); "
                    "stress runs only the production-size checks")
    group.addoption(OPTION_REPORT_DIR, dest="lstm_report_dir", default=None, metavar="DIR",
                    help="where results.json, index.html and junit.xml go "
                         "(default: reports/ in the working directory)")
    group.addoption(OPTION_LIST, action="store_true", dest="lstm_list",
                    help="list registered implementations with their capabilities, and exit")
    group.addoption(OPTION_EXCLUDE, action="append", dest="lstm_exclude", metavar="FEATURE",
                    default=[], help="leave out cases that need this capability (repeatable); "
                    "the reproduce commands of later failures use it")
    group.addoption(OPTION_DEVICE, dest="lstm_device", default="cpu", metavar="DEVICE",
                    help="the torch device the implementations are built and called on "
                    "(cpu, cuda, cuda:1, mps, xpu, ...; default: cpu). Cases are made and "
                    "judged on the CPU")
    group.addoption(OPTION_TF32, dest="lstm_tf32", default="torch-default",
                    choices=TF32_CHOICES,
                    help="TF32 for float32 on CUDA: torch-default (cuDNN on, matmul off), "
                    "on or off; the report records the flags in force")


def _given(args: list[str], *options: str) -> bool:
    return any(a == o or a.startswith(o + "=") or (o == "-n" and a.startswith("-n"))
               for a in args for o in options)


def _profile(args: list[str]) -> str:
    """The profile a command line asks for (its last ``--lstm-profile``), else default."""
    profile = "default"
    for n, arg in enumerate(args):
        if arg == OPTION_PROFILE and n + 1 < len(args):
            profile = args[n + 1]
        elif arg.startswith(OPTION_PROFILE + "="):
            profile = arg.split("=", 1)[1]
    return profile


def is_conformance_run(args: list[str]) -> bool:
    """Whether a command line asks for a conformance run (see the module docstring)."""
    here = Path(__file__).parent.resolve()
    if _given(args, *OUR_OPTIONS) or "--pyargs" in args and (PACKAGE in args
                                                                or TEST_MODULE in args):
        return True
    for arg in args:
        if arg.startswith("-"):
            continue
        try:
            resolved = Path(arg.split("::")[0]).resolve()
        except OSError:
            continue
        if resolved == here or resolved.parent == here:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args: list[str]) -> None:
    """Isolation by default for conformance runs (see the module docstring)."""
    if not is_conformance_run(args) or _given(args, OPTION_LIST):
        return
    plugins = early_config.pluginmanager
    if plugins.hasplugin("xdist") and not _given(args, "-n", "--numprocesses", "--dist"):
        args[:0] = ["-n", "1"]
    if plugins.hasplugin("xdist") and not _given(args, "--max-worker-restart"):
        args[:0] = ["--max-worker-restart", "1000"]
    if plugins.hasplugin("timeout") and not _given(args, "--timeout"):
        args[:0] = ["--timeout", str(DEFAULT_TIMEOUT_S.get(_profile(args), 300))]
    if plugins.hasplugin("timeout") and not _given(args, "--timeout-method", "--timeout_method"):
        args[:0] = ["--timeout-method", "thread"]


def pytest_cmdline_main(config: pytest.Config):
    if config.getoption("lstm_list"):
        from lstm_conformance.listing import listing

        print(listing())
        return 0
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Make the run's state, in a conformance run only (decided before importing anything)."""
    worker = getattr(config, "workerinput", {}).get(WORKER_KEY)
    if worker is None and (hasattr(config, "workerinput")
                           or not is_conformance_run(config.invocation_params.args)):
        return
    from lstm_conformance.session import ConformanceRun

    explicit = config.getoption("lstm_report_dir")
    report_dir = Path(explicit) if explicit else config.invocation_params.dir / "reports"
    if worker is None and explicit:
        _check_writable(report_dir)
    run = ConformanceRun(config, profile=config.getoption("lstm_profile"),
                         report_dir=report_dir, worker=worker)
    config.stash[_RUN] = run
    config.pluginmanager.register(run, "lstm-conformance-run")
    if config.pluginmanager.hasplugin("xdist") and worker is None:
        config.pluginmanager.register(_XdistHandOver(run), "lstm-conformance-xdist")
    run.start()
    # torch, numpy, hypothesis and the specification are imported now and live as long as
    # the process: moved out of the collector's sight, they no longer cost every full
    # collection (about 0.3 s each, and pytest runs five at the end of a session).
    gc.freeze()


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent):
    """The suite's folder as a plain directory. pytest would make it a ``Package`` and import
    its ``__init__.py`` under the folder's name (``conformance`` in a checkout), a second copy
    of ``lstm_conformance`` beside the real one."""
    if path.resolve() != Path(__file__).parent.resolve():
        return None
    return pytest.Dir.from_parent(parent, path=path)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent):
    """The conformance test module, imported by its package name (see ``SuiteModule``)."""
    here = Path(__file__).parent
    if module_path.name != "test_conformance.py" or module_path.parent.resolve() != here.resolve():
        return None
    try:
        module_path.relative_to(parent.config.rootpath)
        return SuiteModule.from_parent(parent, path=module_path)
    except ValueError:
        # outside the rootdir (an installed suite run from a user's directory), pytest would
        # name a module given as an initial path "", and the ids would read
        # "::test_conformance[...]"; here they read "lstm_conformance/test_conformance.py::..."
        return SuiteModule.from_parent(parent, path=module_path,
                                       nodeid=f"{TEST_MODULE.replace('.', '/')}.py")


class SuiteModule(pytest.Module):
    """The conformance test module, imported as ``lstm_conformance.test_conformance`` however
    pytest would name its file. In a checkout the file lies in ``conformance/``, and pytest's
    import modes derive a module name from the folders (``conformance.test_conformance``):
    that would import the whole suite a second time under another name, with a second copy
    of every module-level state."""

    def _getobj(self):
        from importlib import import_module

        return import_module(TEST_MODULE)


def conformance_run(config: pytest.Config):
    """The run's state, or None in a session that is not a conformance run."""
    return config.stash.get(_RUN, None)


class _XdistHandOver:
    """Gives every xdist worker the controller's seed and crash directory."""

    def __init__(self, run) -> None:
        self.run = run

    def pytest_configure_node(self, node) -> None:
        node.workerinput[WORKER_KEY] = self.run.worker_input()


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
    run = conformance_run(metafunc.config)
    if run is not None and {"impl", "invariant_id"} <= set(metafunc.fixturenames):
        pairs = run.pairs()
        metafunc.parametrize(("impl", "invariant_id"), pairs,
                             ids=[f"{impl}:{inv}" for impl, inv in pairs])


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    run = conformance_run(config)
    if run is None:
        return None
    seed = "derandomized" if run.seed is None else f"seed {run.seed}"
    return [f"lstm-conformance: profile {run.profile}, {seed}, device {run.device}, "
            f"report dir {run.report_dir}",
            f"lstm-conformance: precision policy: {run.precision_line()}"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = conformance_run(session.config)
    if run is not None and not run.is_worker:
        run.finish(session)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    run = conformance_run(config)
    if run is not None and not run.is_worker:
        run.summary(terminalreporter)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = conformance_run(config)
    if run is not None:
        run.close()
