"""Checking one invariant on one implementation with hypothesis: ``run_check``.

The outcome is one of the statuses of ``results.json``:

* ``passed``: every drawn example held.
* ``failed``: a ``Violation``; hypothesis shrank it, and ``counterexample`` describes
  the minimal case and the worst element.
* ``error``: the implementation raised or returned junk (``ImplementationError``), or
  the check itself crashed on what came back.
* ``not_applicable``: the invariant needs a capability the implementation declares it
  lacks, or every drawn case was refused with ``NotImplementedError``.

Pure library code over ``spec``: the pytest plugin and the project's tests both use it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from hypothesis import given, reject
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.errors import Flaky, Unsatisfiable

from spec.capabilities import BEYOND_CORE, supported
from spec.errors import ImplementationError, NotApplicable, Violation
from spec.harness import Subject
from spec.invariants import Invariant


@dataclass
class Outcome:
    status: str
    examples: int = 0
    not_applicable_examples: int = 0
    duration_s: float = 0.0
    counterexample: dict | None = None
    message: str | None = None
    hypothesis_reproduce: str | None = None
    not_applicable_reasons: dict[str, int] = field(default_factory=dict)
    #: For a failure or error: the status of the same check on core cases only (one
    #: unidirectional layer, dense input), which decides the "core" conformance level.
    core_status: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _blob(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        if "@reproduce_failure" in note:
            return note[note.index("@reproduce_failure"):].strip()
    return None


def run_check(subject: Subject, invariant: Invariant, settings: Settings,
              seed: int | None = None, *, core_only: bool = False) -> Outcome:
    """Check ``invariant`` on ``subject`` under ``settings``; never raises for a verdict.

    A failure or error is checked again on core cases only (``core_status``), unless
    this is that second check (``core_only``).
    """
    start = time.perf_counter()
    caps = supported(subject.unsupported)
    missing = invariant.missing(caps)
    if missing:
        return Outcome("not_applicable", message=(
            f"needs {', '.join(sorted(missing))}, which {subject.name} does not support "
            "(declared unsupported, or a backend, which has no autograd)"))
    counts: Counter = Counter()
    reasons: Counter = Counter()
    last: dict = {}

    def check(drawn) -> None:
        case, extra = drawn if isinstance(drawn, tuple) else (drawn, None)
        last.clear()
        last["case"] = case
        try:
            invariant.check(subject, case, *(() if extra is None else (extra,)))
        except NotApplicable as exc:
            counts["not_applicable"] += 1
            reasons[str(exc)] += 1
            reject()
        except (Violation, ImplementationError) as exc:
            last["error"] = exc
            raise
        except Exception as exc:  # the check itself tripped over what came back
            last["error"] = exc
            raise ImplementationError(
                f"checking crashed with {type(exc).__name__}: {exc} (the implementation's "
                "result may have an unexpected form)") from exc
        counts["examples"] += 1

    key = f"{subject.name}:{invariant.id}{':core' if core_only else ''}"
    check._hypothesis_internal_add_digest = key.encode()  # its own example-database entry
    test = given(invariant.strategy(caps))(check)
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    test = settings(test)  # after seed(), which would otherwise turn the database off
    outcome = Outcome("passed")
    try:
        test()
    except Unsatisfiable:
        outcome.status = "not_applicable"
        outcome.message = "every drawn case was refused: " + "; ".join(sorted(reasons))
    except (Violation, ImplementationError, Flaky) as exc:
        failing = last.get("case")
        first = exc
        if isinstance(exc, Flaky):  # it failed, then passed on the same input
            inner = [e for e in getattr(exc, "exceptions", ())
                     if isinstance(e, (Violation, ImplementationError))]
            first = inner[0] if inner else exc
        detail = first.detail if isinstance(first, Violation) else {}
        outcome.status = "error" if isinstance(first, ImplementationError) else "failed"
        outcome.message = str(first)
        if isinstance(exc, Flaky):
            outcome.message = ("not reproducible: the same input gave a different result when "
                               f"hypothesis replayed it (non-deterministic?); first: {first}")
        outcome.counterexample = {"case": failing.describe() if failing else None, **detail}
        outcome.hypothesis_reproduce = _blob(exc)
        counts["examples"] += 1
    except Exception as exc:  # hypothesis refused to run the check; keep the run going
        outcome.status = "error"
        outcome.message = f"the check could not run: {type(exc).__name__}: {exc}"
    if outcome.status in ("failed", "error") and not core_only:
        core = Subject(subject.name, subject.factory, subject.unsupported | BEYOND_CORE)
        outcome.core_status = run_check(core, invariant, settings, seed, core_only=True).status
    outcome.examples = counts["examples"]
    outcome.not_applicable_examples = counts["not_applicable"]
    outcome.not_applicable_reasons = dict(reasons)
    outcome.duration_s = round(time.perf_counter() - start, 4)
    return outcome
