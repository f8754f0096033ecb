"""The crash watch: which check, and which case, a worker was running when it died.

Implementations under test are often native code in development: they may hang or kill
the process. In a conformance run each pytest-xdist worker keeps a log in a directory the
controller made: a ``STARTED`` line when a check starts, a ``CASE`` line before each
example (the case's description), and ``faulthandler``'s report of a fatal signal. When a
worker dies, the controller reads the log and records an ``error`` for that check, with
the case that was running: "the process crashed (Fatal Python error: Aborted)" on
``bias=False``, or "timed out after N s". After a timeout, the implementation's remaining
checks are errors at once rather than hanging again.

Nothing here happens outside a conformance run: the plugin makes a ``CrashWatch`` only
for one.
"""

from __future__ import annotations

import faulthandler
import json
import shutil
import tempfile
import time
from pathlib import Path


class CrashWatch:
    def __init__(self, directory: Path | None = None, worker_id: str | None = None) -> None:
        """In the controller, ``directory`` is None and a fresh one is made; in a worker it
        is the controller's, and ``worker_id`` names this worker's log."""
        self.owned = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="lstm-conformance-crash-")
                              if directory is None else directory)
        self.log = None
        if worker_id is not None:
            # Must stay open for faulthandler, which writes to its file descriptor.
            self.log = open(self.directory / f"{worker_id}.log", "w")  # noqa: SIM115

    # -- in a worker ----------------------------------------------------------------------
    def started(self, nodeid: str) -> None:
        """Note the check that starts; (re-)point faulthandler at the log, after pytest's
        own faulthandler set-up."""
        faulthandler.enable(self.log)
        self._write("STARTED", {"nodeid": nodeid, "start": time.time()})

    def case(self, description: dict) -> None:
        """Note the case about to run, for the controller to read if the worker dies."""
        self._write("CASE", description)

    def _write(self, tag: str, payload: dict) -> None:
        self.log.write(f"{tag} {json.dumps(payload)}\n")
        self.log.flush()

    # -- in the controller ----------------------------------------------------------------
    def hung(self, impl: str) -> str | None:
        """Why ``impl``'s checks are not run any more (it timed out earlier), or None."""
        marker = self.directory / f"hung-{impl}"
        return marker.read_text() if marker.exists() else None

    def mark_hung(self, impl: str, invariant_id: str) -> None:
        (self.directory / f"hung-{impl}").write_text(
            f"{impl} timed out in {invariant_id} earlier in this run")

    def last_words(self, worker_id: str) -> tuple[str, float | None, dict | None]:
        """From a dead worker's log: the fatal error line (or ""), the seconds since its
        last check started, and the last case it began."""
        log = self.directory / f"{worker_id}.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        fatal = next((ln for ln in lines if ln.startswith("Fatal Python error")), "")
        start, case = None, None
        for line in lines:
            tag, _, payload = line.partition(" ")
            if tag == "STARTED":
                start, case = json.loads(payload)["start"], None  # a new check: no case yet
            elif tag == "CASE":
                case = payload
        ran = None if start is None else time.time() - start
        return fatal, ran, None if case is None else json.loads(case)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        if self.owned:
            shutil.rmtree(self.directory, ignore_errors=True)
