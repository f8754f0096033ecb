"""The records of one check's result: ``Outcome`` and its ``Failure``s, as they cross the
pytest-xdist boundary (``as_dict``) and land in ``results.json``, and how a failure is made
from what a check raised.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum

from hypothesis.errors import Flaky

from lstm_conformance.spec.errors import ImplementationError, Violation, qualified_name
from lstm_conformance.spec.vocabulary import Status

#: The search budget of one check: distinct failures kept, each of which costs a shrink,
#: a search for its condition and a re-check without it. A check keeps looking until what
#: is left passes, or a failure has no condition to leave out, or this budget is spent
#: (``Outcome.search_ended`` says which).
MAX_FAILURES = 6
#: A largest error counts as larger than the shrunk case's when it exceeds it by this
#: factor: what the messages' three significant digits show (not float rounding).
LARGER = 1.01
#: Tensors up to this many elements are kept with a failure, for the report's pictures.
PICTURE_ELEMENTS = 4096


def _plain(pairs: list[tuple[str, object]]) -> dict:
    """``asdict``'s dict factory: enum members as their plain strings, so that an outcome
    crosses the xdist boundary (execnet) and serialises as JSON unchanged."""
    return {k: str(v) if isinstance(v, Enum) else v for k, v in pairs}


@dataclass
class Failure:
    """One distinct failure of a check: its shrunk counterexample and what triggers it."""

    status: Status
    message: str
    counterexample: dict | None
    #: A stable key for what failed: a violation's ``check``, or ``error:<kind>:<type>``.
    kind: str
    #: The features that trigger it, and in words: {"features": [...], "text": "..."}.
    condition: dict | None = None
    hypothesis_reproduce: str | None = None
    #: Filled in by the plugin: a command that reproduces it, and a standalone script.
    reproduce: str | None = None
    script: str | None = None
    #: Expected and actual tensors of a failed comparison, when small enough to draw.
    tensors: dict | None = None
    #: The features excluded while this failure was searched for (none for the first).
    excluded: list[str] = field(default_factory=list)
    #: The largest error of this kind the check saw ({"message", "max_abs_diff", "size",
    #: "case", "extra"}; ``size`` by ``error_size``), when it is larger than the shrunk
    #: counterexample's: the error of record,
    #: which ``message`` states first. None when the shrunk case is the largest.
    largest: dict | None = None
    #: The shrunk counterexample's own message, when ``message`` states a larger error.
    minimal_message: str | None = None

    def record_largest(self, largest: dict | None) -> None:
        """Make ``largest`` the error of record when it exceeds the shrunk case's error:
        the message states it first and the minimal counterexample beside it. Shrinking
        moves towards small cases, whose errors are often the smallest (a packed failure
        shrinks to 1.3e-3 where the run saw 0.14)."""
        shrunk = error_size(self.counterexample or {})
        if largest is None or shrunk is None or not largest["size"] > shrunk * LARGER:
            return
        self.largest = largest
        self.minimal_message = self.message
        self.message = (f"{largest['message']} [the largest error seen, on "
                        f"{describe_case(largest['case'])}; the minimal counterexample: "
                        f"{self.message}]")

    def as_dict(self) -> dict:
        return asdict(self, dict_factory=_plain)


def error_size(detail: dict) -> float | None:
    """How large a failed comparison's error is, comparable across dtypes: its largest
    |diff| over what the tolerance allows at that element (a bfloat16 error of 1.5 under a
    tolerance of 0.5 is smaller than a float32 one of 1e-3 under 1e-5), or the |diff|
    itself for an exact comparison. None when ``detail`` is no numeric comparison."""
    diff, tol = detail.get("max_abs_diff"), detail.get("tolerance")
    if not isinstance(diff, (int, float)) or diff != diff:  # NaN: no size
        return None
    if not isinstance(tol, dict):
        return float(diff)
    allowed = tol.get("atol", 0.0) + tol.get("rtol", 0.0) * abs(detail.get("expected") or 0.0)
    return float(diff) / allowed if allowed > 0 else float(diff)


def same_failure_key(failure: Failure) -> str | None:
    """What makes an error the same error in every check of an implementation: its kind and
    the words of its message's first line (numbers left out), so that a condition one check
    learned can be tried first by the others; what it raised, not which call raised it.
    None for a failed comparison, whose kind is its own check's."""
    if failure.status != Status.ERROR:
        return None
    first = (failure.message or "").splitlines()[0] if failure.message else ""
    said = first.split(" raised ", 1)[-1]  # not which call raised it ("(input, hx)")
    return f"{failure.kind}|{re.sub(r'[0-9.e+-]+', '#', said)[:160]}"


def describe_case(case: dict) -> str:
    """``bias=False, num_layers=2, float64, packed`` : the parts of a case worth reading."""
    defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                "bidirectional": False, "proj_size": 0}
    parts = [f"{k}={case[k]}" for k in defaults if k in case and case[k] != defaults[k]]
    parts += [str(case.get("dtype")), str(case.get("form"))]
    parts += [f"{k}={case[k]}" for k in ("seq_len", "batch") if case.get(k) is not None]
    return ", ".join(p for p in parts if p and p != "None")


@dataclass
class Outcome:
    status: Status
    examples: int = 0
    not_applicable_examples: int = 0
    duration_s: float = 0.0
    counterexample: dict | None = None
    message: str | None = None
    hypothesis_reproduce: str | None = None
    reproduce: str | None = None
    not_applicable_reasons: dict[str, int] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    #: The features whose exclusion was needed for the rest to pass, and the status of
    #: the check on that rest (None when nothing failed).
    passes_without: list[str] | None = None
    rest_status: Status | None = None
    #: Why the search for further failures ended (None when nothing failed):
    #: ``rest-known`` (the rest was checked: ``rest_status``), ``budget-spent``
    #: (``MAX_FAILURES`` found, the rest unknown), ``no-condition`` (a failure on every
    #: kind of case tried leaves nothing to exclude), ``not-searched`` (exploring was off).
    search_ended: str | None = None
    #: For a failure or error: the status of the same check on core cases only (one
    #: unidirectional layer, dense input), which decides the "core" conformance level.
    core_status: Status | None = None
    #: The largest observed error / allowed error over every numeric comparison made, the
    #: case that produced it, and each example's largest (for the report's plot).
    max_ratio: float | None = None
    worst_case: dict | None = None
    ratios: list[float] = field(default_factory=list)
    #: Set for a declared known failure: the implementation's reason.
    known_failure_reason: str | None = None
    #: Warnings the implementation raised during the check, each once: "Category: text".
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self, dict_factory=_plain)


def blob(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        if "@reproduce_failure" in note:
            return note[note.index("@reproduce_failure"):].strip()
    return None


def pictures(exc: BaseException) -> dict | None:
    tensors = getattr(exc, "tensors", None)
    if not tensors or tensors["expected"].numel() > PICTURE_ELEMENTS:
        return None
    return {"dims": tensors["dims"], "expected": tensors["expected"].tolist(),
            "actual": tensors["actual"].tolist()}


def failure_from(exc: BaseException, case, excluded: frozenset[str]) -> Failure:
    first = exc
    if isinstance(exc, Flaky):  # it failed, then passed on the same input
        inner = [e for e in getattr(exc, "exceptions", ())
                 if isinstance(e, (Violation, ImplementationError))]
        first = inner[0] if inner else exc
    if isinstance(first, Violation):
        status, kind = Status.FAILED, str(first.detail.get("check", "violation"))
        detail = first.detail
    else:
        status, detail = Status.ERROR, {}
        kind = (first.key if isinstance(first, ImplementationError)
                else f"error:{qualified_name(type(first))}")
    message = str(first)
    if isinstance(exc, Flaky):
        message = ("not reproducible: the same input gave a different result when hypothesis "
                   f"replayed it (non-deterministic?); first: {first}")
    if isinstance(first, ImplementationError) and first.replayed:
        detail = {"replayed": sorted(first.replayed)}
    return Failure(status=status, message=message, kind=kind,
                   counterexample={"case": case.describe() if case else None, **detail},
                   hypothesis_reproduce=blob(exc), tensors=pictures(first),
                   excluded=sorted(excluded))
