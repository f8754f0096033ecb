"""Checking one invariant on one implementation with hypothesis: ``run_check``.

The outcome carries one of the statuses of ``results.json`` (``spec.vocabulary.Status``):

* ``passed``: every drawn example held.
* ``failed``: a ``Violation``; hypothesis shrank it to a minimal counterexample.
* ``error``: the implementation raised or returned junk (``ImplementationError``), or
  the check itself crashed on what came back.
* ``not_applicable``: the invariant needs a capability the implementation declares it
  lacks, or every drawn case was refused with ``NotImplementedError``.

A failure is not the end of a check. One loud failure (an error on every projection case)
would otherwise hide a quiet one (packed lengths ignored), so after each failure the
runner looks for the condition that triggers it: it re-runs the check with each feature
of the shrunk counterexample excluded in turn (``bidirectional``, ``float64``, ...), and
the features whose exclusion makes the check pass are the condition ("fails when
bidirectional and multi_layer"). Then it checks again with that condition excluded, which
finds the next distinct failure or shows that the rest passes. The search goes on until
what is left passes, or a failure has no condition to leave out, or its budget of
``MAX_FAILURES`` distinct failures is spent (``search_ended`` says which); each failure
keeps its own shrunk counterexample and condition. An error another check of the same
implementation met first (``same_failure_key``) is tried with the condition it had there
before any search: one error, one condition.

Shrinking moves towards small cases, whose errors are often the smallest: each failure
also keeps the largest error of its comparison that the check saw (``Failure.largest``),
which its message states first, the shrunk counterexample's beside it.

Every example also reports how close its numeric comparisons came to their limits
(observed error / allowed error); hypothesis's targeted search steers towards larger
ratios, and the outcome keeps the largest (``max_ratio``) with the case that produced it.

Pure library code over ``spec``: the pytest plugin and the project's tests both use it.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from hypothesis import Phase, given, reject, target
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.control import currently_in_test_context
from hypothesis.errors import Flaky, Unsatisfiable, UnsatisfiedAssumption
from hypothesis.stateful import RULE_MARKER, get_state_machine_test

from conformance.outcome import MAX_FAILURES, Failure, Outcome, failure_from, same_failure_key
from spec import tolerance
from spec.asserts import observing_ratios
from spec.capabilities import BEYOND_CORE, FEATURES, supported
from spec.errors import ImplementationError, NotApplicable, Violation, qualified_name
from spec.harness import Subject
from spec.invariants import Invariant
from spec.strategies import BOUNDARY_SIZES, Draws, dtype_cases
from spec.vocabulary import Status


@dataclass
class _Found:
    """One failure of an attempt, with the shrunk case (and extra draw) that shows it."""

    failure: Failure
    case: object = None
    extra: object = None

    @property
    def features(self) -> frozenset[str]:
        return self.case.features() if self.case is not None else frozenset()


@dataclass
class _Attempt:
    """One hypothesis run of a check on one restriction of the implementation. Hypothesis
    reports each distinct bug it meets (by exception type and where it was raised), each
    shrunk on its own: ``found`` holds them all."""

    status: Status
    found: list[_Found] = field(default_factory=list)
    examples: int = 0
    not_applicable: Counter = field(default_factory=Counter)
    max_ratio: float | None = None
    worst_case: dict | None = None
    ratios: list[float] = field(default_factory=list)
    message: str | None = None
    #: The largest error seen of each failed comparison (by its check key), over every
    #: failing example, shrinking's included: {"message", "max_abs_diff", "case", "extra"}.
    largest: dict[str, dict] = field(default_factory=dict)

    @property
    def failure(self) -> Failure | None:
        return self.found[0].failure if self.found else None


#: Hears each case before it runs, with its extra draw (the crash watch notes both).
OnCase = Callable[[dict, object], None]


def _attempt(subject: Subject, invariant: Invariant, settings: Settings, seed: int | None,
             digest: str, on_case: OnCase | None) -> _Attempt:
    caps = supported(subject.unsupported)
    if invariant.missing(caps):
        return _Attempt(Status.NOT_APPLICABLE)
    result = _Attempt(Status.PASSED)
    last: dict = {}

    def check(drawn) -> None:
        case, extra = drawn if isinstance(drawn, tuple) else (drawn, None)
        last["case"], last["extra"] = case, extra
        if on_case is not None:
            on_case(case.describe(), extra)
        ratios: list[float] = []
        try:
            with observing_ratios(ratios.append):
                invariant.check(subject, case, *(() if extra is None else (extra,)))
        except NotApplicable as exc:
            result.not_applicable[str(exc)] += 1
            reject()
        except (Violation, ImplementationError) as exc:
            exc.lstm_case = (case, extra)  # which case, when several bugs are reported
            if isinstance(exc, Violation):
                _note_largest(result.largest, exc, case, extra)
            raise
        except Exception as exc:  # the check itself tripped over what came back
            error = ImplementationError(
                f"checking crashed with {qualified_name(type(exc))}: {exc} (the "
                "implementation's result may have an unexpected form)",
                kind="check-crashed", exception=qualified_name(type(exc)))
            error.lstm_case = (case, extra)
            raise error from exc
        finally:  # a failing example's ratio counts too: it is the largest
            if ratios:
                _note_ratio(result, max(ratios), case)
        result.examples += 1
        if ratios and currently_in_test_context():  # not for a decisive case
            target(min(max(ratios), 1e6), label="observed error / allowed error")

    if invariant.machine is not None:
        test = _machine_test(subject, invariant, settings, digest, result, last)
        if seed is not None:
            test = hypothesis_seed(seed)(test)
    else:
        check._hypothesis_internal_add_digest = digest.encode()  # its own database entry
        test = given(invariant.strategy(caps))(check)
        if seed is not None:
            test = hypothesis_seed(seed)(test)
        test = settings(test)  # after seed(), which would otherwise turn the database off
    try:
        test()
        _play_decisive(subject, invariant, settings, seed, caps, check)
    except Unsatisfiable:
        result.status = Status.NOT_APPLICABLE
        result.message = "every drawn case was refused: " + "; ".join(
            sorted(result.not_applicable))
    except (Violation, ImplementationError, Flaky, BaseExceptionGroup) as exc:
        bugs = exc.exceptions if isinstance(exc, BaseExceptionGroup) \
            and not isinstance(exc, Flaky) else (exc,)
        for bug in bugs:
            case, extra = getattr(bug, "lstm_case", (last.get("case"), last.get("extra")))
            result.found.append(_Found(_found_failure(bug, case, extra, subject), case, extra))
        result.status = result.found[0].failure.status
        result.examples += 1
    except Exception as exc:  # hypothesis refused to run the check; keep the run going
        result.status = Status.ERROR
        result.found.append(_Found(Failure(Status.ERROR, f"the check could not run: "
                                           f"{qualified_name(type(exc))}: {exc}", None,
                                           kind="error:check-could-not-run")))
    return result


#: Decisive cases and programs (``Invariant.decisive``) run in every check of a profile of at
#: least this many examples (default, thorough, ci), after the drawn ones have passed; the
#: quick profile is a smoke test and leaves them to chance.
DECISIVE_FROM_EXAMPLES = 25


def _play_decisive(subject: Subject, invariant: Invariant, settings: Settings,
                   seed: int | None, caps: frozenset[str], check: Callable) -> None:
    """Check the invariant's decisive cases (or play its decisive programs), which random
    draws reach only now and then, and one plain case per dtype (``dtype_cases``). A
    failing case is followed by a search narrowed to its region (its large dimension,
    form, dtype, bias and initial state), which hypothesis shrinks to the smallest failing
    case; the case itself is reported if that search misses."""
    if settings.max_examples < DECISIVE_FROM_EXAMPLES:
        return
    if invariant.machine is not None:
        machine = invariant.machine(subject)
        for program in invariant.decisive(invariant, caps) if invariant.decisive else ():
            _play(machine, program)
        return
    decisive = invariant.decisive(invariant, caps) if invariant.decisive else []
    if invariant.extra is None and not invariant.draws.large:
        decisive += dtype_cases(caps, invariant.draws)  # drawn dtypes are not spread evenly
    for drawn in decisive:  # a case, or (case, extra) for a check that draws more
        case = drawn[0] if isinstance(drawn, tuple) else drawn
        try:
            check(drawn)
        except UnsatisfiedAssumption:  # a case the implementation declines
            continue
        except (Violation, ImplementationError) as exc:
            region = dataclasses.replace(invariant, draws=_region(invariant, case))
            narrowed = given(region.strategy(caps))(check)
            if seed is not None:
                narrowed = hypothesis_seed(seed)(narrowed)
            Settings(settings, database=None)(narrowed)()
            raise exc  # the narrowed search passed: the decisive case is the counterexample


def _region(invariant: Invariant, case) -> Draws:
    """The draws of ``invariant`` narrowed to the region of a decisive ``case``."""
    dims = [d for d in invariant.draws.large_dims
            if BOUNDARY_SIZES[d][-1] == {"hidden_size": case.config.hidden_size,
                                          "input_size": case.config.input_size,
                                          "seq_len": case.seq_len, "batch": case.batch}[d]]
    return dataclasses.replace(invariant.draws, large_dims=tuple(dims[:1]) or
                               invariant.draws.large_dims, forms=(case.form,),
                               bias=case.config.bias, dtypes=(case.dtype_name,),
                               initial_state=case.hx is not None, weight_scales=("normal",))


def _play(machine: type, program: list[tuple[str, dict]]) -> None:
    """One decisive program of a state machine: its rules called in order, as hypothesis
    would call them; a program the implementation declines, or whose next rule's
    precondition does not hold, stops there."""
    state = machine()
    try:
        for rule, arguments in program:
            declared = getattr(getattr(machine, rule), RULE_MARKER, None)
            if declared is not None and not all(p(state) for p in declared.preconditions):
                return  # as hypothesis would not call it here
            getattr(state, rule)(**arguments)
    except UnsatisfiedAssumption:
        return
    finally:
        state.teardown()


def _note_ratio(result: _Attempt, ratio: float, case) -> None:
    result.ratios.append(float(f"{ratio:.3g}"))
    if result.max_ratio is None or ratio > result.max_ratio:
        result.max_ratio = ratio
        result.worst_case = {"ratio": ratio, "case": case.describe()}


def _note_largest(largest: dict[str, dict], exc: Violation, case, extra) -> None:
    """Keep ``exc`` as its comparison's largest error when it is larger than any before."""
    kind = str(exc.detail.get("check", "violation"))
    diff = exc.detail.get("max_abs_diff")
    if not isinstance(diff, (int, float)) or diff != diff:  # not a numeric comparison, NaN
        return
    if kind not in largest or diff > largest[kind]["max_abs_diff"]:
        largest[kind] = {"message": str(exc), "max_abs_diff": float(diff),
                         "case": case.describe(),
                         "extra": list(extra) if isinstance(extra, tuple) else extra}


def _found_failure(exc: BaseException, case, extra, subject: Subject) -> Failure:
    failure = failure_from(exc, case, subject.excluded)
    if extra is not None and failure.counterexample is not None:
        failure.counterexample["extra"] = list(extra) if isinstance(extra, (list, tuple)) \
            else extra
    lifecycle = getattr(exc, "lifecycle", None)
    if lifecycle is not None:  # a state machine: the case is the module and its steps
        failure.counterexample = {**failure.counterexample, **lifecycle}
    return failure


def _machine_test(subject: Subject, invariant: Invariant, settings: Settings, digest: str,
                  result: _Attempt, last: dict):
    """The hypothesis test that runs ``invariant``'s state machine on ``subject``."""
    machine = invariant.machine(subject)

    class Counted(machine):
        def teardown(self) -> None:
            result.examples += 1
            super().teardown()

    test = get_state_machine_test(Counted, settings=Settings(settings, **MACHINE_SETTINGS))
    test.hypothesis.inner_test._hypothesis_internal_add_digest = digest.encode()
    last["case"] = None
    return test


#: Steps per state-machine run: long enough for call, update, call again, short enough
#: that a profile's examples stay affordable.
MACHINE_SETTINGS = {"stateful_step_count": 12}


def _without_shrinking(settings: Settings) -> Settings:
    return Settings(settings, phases=[p for p in settings.phases if p != Phase.shrink])


def describe_condition(features: frozenset[str]) -> str:
    """``"when bidirectional=True and num_layers > 1"`` for {bidirectional, multi_layer}."""
    if not features:
        return "on every kind of case tried"
    return "when " + " and ".join(FEATURES[f] for f in sorted(features))


def _passes_in_another_dtype(subject: Subject, invariant: Invariant, failing_case,
                             on_case: OnCase | None = None) -> bool:
    """Whether the shrunk case, made again in the other full-precision dtype (float64 for
    float32, else float32), passes: then its dtype is part of what triggers the failure.
    A deterministic replay, since leaving a dtype out of a search only moves it to other
    dtypes. Half precision is never the comparison: its wider tolerance would hide a
    numeric failure. Failing there in any way, or not being supported, proves nothing."""
    from spec.strategies import DTYPES, in_dtype

    case, extra = failing_case
    other = "float64" if case.dtype == DTYPES["float32"] else "float32"
    if other not in supported(subject.unsupported):
        return False
    replay = in_dtype(case, DTYPES[other])
    if on_case is not None:
        on_case(replay.describe(), extra)
    try:
        invariant.check(subject, replay, *(() if extra is None else (extra,)))
    except Exception:
        return False
    return True


def _condition(subject: Subject, invariant: Invariant, settings: Settings, seed: int | None,
               digest: str, failing: frozenset[str], which: str,
               failing_case, on_case: OnCase | None = None) -> frozenset[str]:
    """The features of a failing case without which this failure (its ``identity``) goes away:
    the check passes, or fails only in another way (another bug). Together they are what
    triggers the failure. Each non-dtype feature is left out in turn for a fresh search;
    the dtype is tested by replaying the shrunk case in the other dtypes."""
    probe = _without_shrinking(settings)
    needed = set()
    dtypes = {"float32", "float64", "float16", "bfloat16"}
    if failing_case is not None and _passes_in_another_dtype(subject, invariant, failing_case,
                                                             on_case):
        needed |= failing & dtypes - invariant.requires
    for feature in sorted(failing - invariant.requires - dtypes):
        narrower = subject.restricted(frozenset({feature}))
        attempt = _attempt(narrower, invariant, probe, seed, f"{digest}:without:{feature}",
                           on_case)
        if _gone(attempt, which):
            needed.add(feature)
    return frozenset(needed)


def identity(failure: Failure) -> str:
    """What tells one failure from another within a check: a failed comparison's check key;
    an error's kind and the words of its message (two errors of one exception type, "no
    float64 kernel" and "packed input is not supported", are two failures)."""
    return same_failure_key(failure) or failure.kind


def _gone(attempt: _Attempt, which: str) -> bool:
    """Whether ``attempt`` shows the failure ``which`` (its ``identity``) gone: the check
    passed on some examples, or failed only in other ways (other bugs)."""
    return bool((attempt.status == Status.PASSED and attempt.examples) or (
        attempt.found and all(identity(f.failure) != which for f in attempt.found)))


def _learned_condition(subject: Subject, invariant: Invariant, settings: Settings,
                       seed: int | None, digest: str, found: _Found,
                       conditions: dict[str, list[str]] | None,
                       on_case: OnCase | None) -> frozenset[str] | None:
    """The condition another check learned for the same error, when this failing case has
    its features and leaving them out makes the failure go here too; else None."""
    key = same_failure_key(found.failure)
    learned = None if conditions is None or key is None else conditions.get(key)
    if not learned or not set(learned) <= found.features | invariant.requires:
        return None
    learned = frozenset(learned) - invariant.requires
    if not learned:
        return None
    attempt = _attempt(subject.restricted(learned), invariant, _without_shrinking(settings),
                       seed, f"{digest}:learned:{','.join(sorted(learned))}", on_case)
    return learned if _gone(attempt, identity(found.failure)) else None


def _search_ended(outcome: Outcome, explore: bool) -> str | None:
    """Why the search for further failures ended (``Outcome.search_ended``)."""
    if not outcome.failures:
        return None
    if outcome.rest_status is not None:
        return "rest-known"
    if not explore:
        return "not-searched"
    if len(outcome.failures) >= MAX_FAILURES:
        return "budget-spent"
    return "no-condition"


def run_check(subject: Subject, invariant: Invariant, settings: Settings,
              seed: int | None = None, *, explore: bool = True,
              declared_tolerance: dict | None = None,
              on_case: OnCase | None = None,
              on_found: Callable[[dict], None] | None = None,
              conditions: dict[str, list[str]] | None = None) -> Outcome:
    """Check ``invariant`` on ``subject`` under ``settings``; never raises for a verdict.

    With ``explore``, a failure is followed by the search for its condition and for
    further distinct failures (see the module docstring); ``declared_tolerance`` is the
    implementation's own (``spec.tolerance.declared_tolerance``); ``on_case`` hears each
    case before it runs, and ``on_found`` each distinct failure once found (the crash watch
    notes both, so that a crash names its case and keeps what was found before it).
    ``conditions`` holds the conditions the implementation's other checks learned, by
    ``same_failure_key``: an error met again is first tried with the condition it had
    there, and a condition learned here is added to it (one error, one condition).
    """
    start = time.perf_counter()
    missing = invariant.missing(supported(subject.unsupported))
    if missing:
        return Outcome(Status.NOT_APPLICABLE, message=not_applicable_reason(subject, missing))
    reason = invariant.precheck(subject) if invariant.precheck is not None else None
    if reason:
        return Outcome(Status.NOT_APPLICABLE, message=reason)
    digest = f"{subject.name}:{invariant.id}"
    if subject.excluded:
        digest += f":without:{','.join(sorted(subject.excluded))}"
    torch_state = torch.get_rng_state()
    with tolerance.declared(declared_tolerance), warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("default")  # each distinct warning once
        attempt = _attempt(subject, invariant, settings, seed, digest, on_case)
        outcome = Outcome(attempt.status, examples=attempt.examples,
                          max_ratio=attempt.max_ratio, worst_case=attempt.worst_case,
                          ratios=attempt.ratios,
                          not_applicable_reasons=dict(attempt.not_applicable),
                          message=attempt.message)
        counted = Counter(attempt.not_applicable)
        excluded: frozenset[str] = frozenset()
        while attempt.found:
            triggers: frozenset[str] = frozenset()
            known = {identity(f) for f in outcome.failures}
            new = [f for f in attempt.found if identity(f.failure) not in known]
            for found in new[:MAX_FAILURES - len(outcome.failures)]:
                found.failure.record_largest(attempt.largest.get(found.failure.kind))
                outcome.failures.append(found.failure)
                if on_found is not None:
                    on_found(found.failure.as_dict())
                if not explore:
                    continue
                trigger = _learned_condition(subject.restricted(excluded), invariant,
                                             settings, seed, digest, found, conditions,
                                             on_case)
                if trigger is None:
                    trigger = _condition(subject.restricted(excluded), invariant, settings,
                                         seed, digest, found.features, identity(found.failure),
                                         None if found.case is None
                                         else (found.case, found.extra), on_case)
                    key = same_failure_key(found.failure)
                    if conditions is not None and key is not None and trigger:
                        conditions[key] = sorted(trigger)
                found.failure.condition = {"features": sorted(trigger),
                                           "text": describe_condition(trigger)}
                triggers |= trigger
            if not explore or len(outcome.failures) >= MAX_FAILURES or not triggers \
                    or not new:
                break
            excluded |= triggers
            torch.set_rng_state(torch_state)
            narrower = subject.restricted(excluded)
            attempt = _attempt(narrower, invariant, settings, seed,
                               f"{subject.name}:{invariant.id}:without:"
                               f"{','.join(sorted(narrower.excluded))}", on_case)
            outcome.examples += attempt.examples
            counted.update(attempt.not_applicable)
            if attempt.max_ratio is not None and (outcome.max_ratio is None
                                                  or attempt.max_ratio > outcome.max_ratio):
                outcome.max_ratio, outcome.worst_case = attempt.max_ratio, attempt.worst_case
            if not attempt.found:
                outcome.passes_without = sorted(excluded)
                outcome.rest_status = attempt.status
        outcome.search_ended = _search_ended(outcome, explore)
        if outcome.failures:
            first = outcome.failures[0]
            outcome.status, outcome.message = first.status, first.message
            outcome.counterexample = first.counterexample
            outcome.hypothesis_reproduce = first.hypothesis_reproduce
            outcome.core_status = _core_status(subject, invariant, settings, seed, digest,
                                               outcome, excluded, on_case)
    outcome.warnings = sorted({f"{w.category.__name__}: {w.message}" for w in heard})
    outcome.failures = [f.as_dict() for f in outcome.failures]
    outcome.not_applicable_examples = sum(counted.values())
    outcome.not_applicable_reasons = dict(counted)
    outcome.duration_s = round(time.perf_counter() - start, 4)
    return outcome


def not_applicable_reason(subject: Subject, missing: frozenset[str]) -> str:
    """Why ``subject`` is not given this check, capability by capability."""
    from spec.protocol import BACKEND_GAPS

    is_backend = getattr(subject.factory, "backend", None) is not None
    reasons = []
    for feature in sorted(missing):
        if feature in subject.excluded:
            why = "left out of this run (--lstm-exclude)"
        elif is_backend and feature in BACKEND_GAPS:
            why = "a backend gets numpy arrays, which carry no autograd and have no bfloat16"
        else:
            why = "declared unsupported (lstm_conformance_unsupported)"
        reasons.append(f"{feature}: {why}")
    return f"needs {', '.join(sorted(missing))}; {subject.name} lacks it: " + "; ".join(reasons)


def _core_status(subject: Subject, invariant: Invariant, settings: Settings,
                 seed: int | None, digest: str, outcome: Outcome,
                 excluded: frozenset[str], on_case: OnCase | None = None) -> Status:
    """The check's status on core cases: known already when the rest passed without
    features beyond core, else checked (without shrinking: only the status is needed)."""
    if outcome.rest_status in (Status.PASSED, Status.NOT_APPLICABLE) and excluded <= BEYOND_CORE:
        return Status.PASSED
    core = subject.restricted(BEYOND_CORE)
    return _attempt(core, invariant, _without_shrinking(settings), seed, f"{digest}:core",
                    on_case).status
