"""The crash watch: which check, and which case, a worker was running when it died.

Implementations under test are often native code in development: they may hang or kill
the process. In a conformance run each pytest-xdist worker keeps a log in a directory the
controller made: a ``STARTED`` line when a check starts (with its time limit), a ``CASE``
line before each case the check runs (the case's description and its extra draw: every
case, those of the search for a failure's condition and of the re-checks included; for a
state machine, its program so far before each operation on the implementation), a
``FOUND`` line for each distinct failure the check has found so far, a ``HANDLER`` line
when something replaced faulthandler's handler of a fatal signal, and ``faulthandler``'s
report of a fatal signal. When a worker dies, the controller reads the log
(``last_words``) and records an ``error`` for that check alone, with the case that was
running and what the check had found before: "the process was killed by signal SIGABRT"
on ``bias=False``, or "timed out after N s". pytest-xdist replaces the worker and the
implementation's other checks run as usual.

Nothing here happens outside a conformance run: the plugin makes a ``CrashWatch`` only
for one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
import json
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The signals faulthandler reports, whose handlers a framework may replace with its own.
FATAL_SIGNALS = tuple(getattr(signal, name) for name in
                      ("SIGSEGV", "SIGFPE", "SIGABRT", "SIGBUS", "SIGILL")
                      if hasattr(signal, name))


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc if hasattr(libc, "sigaction") else None
    except OSError:
        return None


_LIBC = _libc()


def installed_handlers() -> dict[int, int] | None:
    """The address of the handler installed for each fatal signal (``sigaction``), or None
    where that cannot be read (no libc ``sigaction``). Python's ``signal.getsignal`` does not
    see handlers installed from C, which is how faulthandler and frameworks install theirs."""
    if _LIBC is None:
        return None
    handlers = {}
    for signum in FATAL_SIGNALS:
        buffer = ctypes.create_string_buffer(512)  # larger than any struct sigaction
        if _LIBC.sigaction(signum, None, buffer) != 0:
            return None
        handlers[int(signum)] = ctypes.c_void_p.from_buffer(buffer).value or 0
    return handlers


@dataclass
class LastWords:
    """What a dead worker's log says about the check it was running."""

    #: faulthandler's "Fatal Python error: ..." line, or "".
    fatal: str = ""
    #: Seconds since the check started, and the limit it ran under (None if unknown).
    ran: float | None = None
    timeout: float | None = None
    #: The last case the check began, and its extra draw.
    case: dict | None = None
    extra: object = None
    #: How many cases the check had begun (the last one included).
    cases: int = 0
    #: The distinct failures it had found (``Failure.as_dict()``).
    found: list[dict] = field(default_factory=list)
    #: Fatal signals whose faulthandler handler something replaced during the check.
    replaced: list[str] = field(default_factory=list)


class CrashWatch:
    def __init__(self, directory: Path | None = None, worker_id: str | None = None) -> None:
        """In the controller, ``directory`` is None and a fresh one is made; in a worker it
        is the controller's, and ``worker_id`` names this worker's log."""
        self.owned = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="lstm-conformance-crash-")
                              if directory is None else directory)
        self.log = None
        self._handlers: dict[int, int] | None = None
        self._replaced: set[str] = set()
        if worker_id is not None:
            # Must stay open for faulthandler, which writes to its file descriptor.
            self.log = open(self.directory / f"{worker_id}.log", "w")  # noqa: SIM115

    # -- in a worker ----------------------------------------------------------------------
    def started(self, nodeid: str, timeout: float | None = None) -> None:
        """Note the check that starts and its time limit; (re-)point faulthandler at the
        log, after pytest's own faulthandler set-up, and remember its handlers."""
        faulthandler.enable(self.log)
        self._handlers = installed_handlers()
        self._replaced = set()
        self._write("STARTED", {"nodeid": nodeid, "start": time.time(), "timeout": timeout})

    def case(self, description: dict, extra: object = None) -> None:
        """Note the case about to run, for the controller to read if the worker dies."""
        self._check_handlers()
        if isinstance(extra, tuple):
            extra = list(extra)
        self._write("CASE", {"case": description, "extra": extra})

    def found(self, failure: dict) -> None:
        """Note a distinct failure the check has found, so that a later crash keeps it."""
        self._write("FOUND", failure)

    def _check_handlers(self) -> None:
        if self._handlers is None:
            return
        now = installed_handlers() or {}
        replaced = {signal.Signals(s).name for s, h in self._handlers.items()
                    if now.get(s, h) != h} - self._replaced
        if replaced:
            self._replaced |= replaced
            self._write("HANDLER", {"replaced": sorted(replaced)})

    def _write(self, tag: str, payload: dict) -> None:
        self.log.write(f"{tag} {json.dumps(payload, default=str)}\n")
        self.log.flush()

    # -- in the controller ----------------------------------------------------------------
    def last_words(self, worker_id: str) -> LastWords:
        """What ``worker_id``'s log says about the check it was running when it died."""
        log = self.directory / f"{worker_id}.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        words, start = LastWords(), None
        for line in lines:
            tag, _, payload = line.partition(" ")
            if line.startswith("Fatal Python error"):
                words.fatal = line.strip()
            elif tag == "STARTED":  # a new check: nothing known of it yet
                started = json.loads(payload)
                words, start = LastWords(timeout=started.get("timeout")), started["start"]
            elif tag == "CASE":
                noted = json.loads(payload)
                words.case, words.extra = noted["case"], noted.get("extra")
                # a state machine notes its program before each operation: a run of it
                # is one case, begun by the program's first operation
                words.cases += len(words.case.get("program") or [None]) == 1
            elif tag == "FOUND":
                words.found.append(json.loads(payload))
            elif tag == "HANDLER":
                words.replaced += json.loads(payload)["replaced"]
        words.ran = None if start is None else time.time() - start
        return words

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        if self.owned:
            shutil.rmtree(self.directory, ignore_errors=True)
