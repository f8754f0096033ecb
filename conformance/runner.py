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

import torch
from hypothesis import settings as Settings

from lstm_conformance.attempt import (
    COULD_NOT_RUN,
    Attempt,
    Found,
    OnCase,
    run_attempt,
    without_shrinking,
)
from lstm_conformance.outcome import MAX_FAILURES, Failure, Outcome, same_failure_key
from lstm_conformance.spec import tolerance
from lstm_conformance.spec.capabilities import (
    BEYOND_CORE,
    REPLAYED,
    describe_condition,
    supported,
)
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import Invariant
from lstm_conformance.spec.vocabulary import Status


def _passes_in_another_dtype(subject: Subject, invariant: Invariant, failing_case,
                             on_case: OnCase | None = None) -> bool:
    """Whether the shrunk case, made again in the other full-precision dtype (float64 for
    float32, else float32), passes: then its dtype is part of what triggers the failure.
    A deterministic replay, since leaving a dtype out of a search only moves it to other
    dtypes. Half precision is never the comparison: its wider tolerance would hide a
    numeric failure. Failing there in any way, or not being supported, proves nothing."""
    from lstm_conformance.spec.strategies import DTYPES, in_dtype

    case, extra = failing_case
    other = "float64" if case.dtype == DTYPES["float32"] else "float32"
    if other not in supported(subject.unsupported):
        return False
    return _replay_passes(subject, invariant, in_dtype(case, DTYPES[other]), extra, on_case)


def _replay_passes(subject: Subject, invariant: Invariant, case, extra,
                   on_case: OnCase | None = None) -> bool:
    """Whether the check passes on this one case (and extra draw), replayed as it is."""
    if on_case is not None:
        on_case(case.describe(), extra)
    try:
        invariant.check(subject, case, *(() if extra is None else (extra,)))
    except Exception:
        return False
    return True


#: What a check may call with beyond its case, where the implementation supports it:
#: output-shapes calls every form and batch_first on one case, packed-per-sequence runs
#: every case with a state as well, grad-modes calls under no_grad.
OWN_CALLS = ("initial_state", "packed", "unbatched", "batch_first", "no_grad")


def _needed_by_own_calls(subject: Subject, invariant: Invariant, failing_case,
                         on_case: OnCase | None = None) -> frozenset[str]:
    """The features of the calls a check makes beyond its case (``OWN_CALLS``) without
    which the shrunk case passes: each left out in turn, the case replayed. They trigger
    the failure, though the case does not show them. Deterministic replays, as for the
    dtype; failing in any way proves nothing."""
    case, extra = failing_case
    candidates = set(OWN_CALLS) - case.features() - subject.unsupported - invariant.requires
    return frozenset(feature for feature in OWN_CALLS if feature in candidates
                     and _replay_passes(subject.restricted(frozenset({feature})), invariant,
                                        case, extra, on_case))


def _needed_by_replay(subject: Subject, invariant: Invariant, failing_case,
                      own_calls: frozenset[str] = frozenset(),
                      on_case: OnCase | None = None) -> frozenset[str]:
    """The conditions of ``REPLAYED`` that the shrunk case needs: it passes with an explicit
    zero (h0, c0) where it had none (nn.LSTM's own default; the failure lives in the
    implementation's default state), or with dropout=0 where it runs in eval mode with
    dropout between layers (dropout acts in eval mode). No search can leave these out:
    they are no capability. Deterministic replays; failing in any way proves nothing. For
    nn.LSTM each replay computes exactly what the case does (hx=None is zeros, dropout
    does nothing in eval mode), so even a near miss that goes away says the
    implementation's two calls differ. The state is not asked of a failure that needs the
    state a check passes of its own (``own_calls``): the replay would change that call."""
    from lstm_conformance.spec.strategies import make_state

    case, extra = failing_case
    needed = set()
    gaps = subject.unsupported | subject.excluded
    if case.hx is None and "initial_state" not in gaps | invariant.requires | own_calls:
        zeros = tuple(torch.zeros_like(t) for t in make_state(case.config, case.batch, 0,
                                                              case.dtype))
        if _replay_passes(subject, invariant, case.replace(hx=zeros), extra, on_case):
            needed.add("default_state")
    config = case.config
    if not case.training and config.dropout > 0 and config.num_layers > 1:
        without = case.replace(config=dataclasses.replace(config, dropout=0.0))
        if _replay_passes(subject, invariant, without, extra, on_case):
            needed.add("eval_dropout")
    return frozenset(needed)


def _condition(subject: Subject, invariant: Invariant, settings: Settings, seed: int | None,
               digest: str, failing: frozenset[str], failure: Failure,
               failing_case, on_case: OnCase | None = None) -> frozenset[str]:
    """The features of a failing case without which ``failure`` goes away (``_gone``):
    the check passes, or fails only in another way (another bug). Together they are what
    triggers the failure. Each non-dtype feature is left out in turn for a fresh search;
    the dtype is tested by replaying the shrunk case in the other dtypes, and so are the
    calls the check makes beyond its case (``_needed_by_own_calls``) and what no search
    can leave out (``_needed_by_replay``: hx=None, dropout in eval mode)."""
    probe = without_shrinking(settings)
    needed = set()
    if failing_case is not None:
        needed |= _needed_by_own_calls(subject, invariant, failing_case, on_case)
        needed |= _needed_by_replay(subject, invariant, failing_case, frozenset(needed),
                                    on_case)
    # what the check showed by replaying a call of its own (a malformed input without hx)
    needed |= set((failure.counterexample or {}).get("replayed") or ())
    dtypes = {"float32", "float64", "float16", "bfloat16"}
    if failing_case is not None and _passes_in_another_dtype(subject, invariant, failing_case,
                                                             on_case):
        needed |= failing & dtypes - invariant.requires
    # a state machine's failure has a program, not a case to replay: its dtypes are left
    # out like any other feature
    searched = failing - invariant.requires - (dtypes if failing_case is not None else set())
    for feature in sorted(searched):
        narrower = subject.restricted(frozenset({feature}))
        attempt = run_attempt(narrower, invariant, probe, seed, f"{digest}:without:{feature}",
                           on_case)
        if _gone(attempt, failure):
            needed.add(feature)
    return frozenset(needed)


def identity(failure: Failure) -> str:
    """What tells one failure from another within a check: a failed comparison's check key;
    an error's kind and the words of its message (two errors of one exception type, "no
    float64 kernel" and "packed input is not supported", are two failures)."""
    return same_failure_key(failure) or failure.kind


def _gone(attempt: Attempt, failure: Failure) -> bool:
    """Whether ``attempt`` shows ``failure`` (its ``identity``) gone: the check passed on
    some examples, or failed only in other ways (other bugs: an error beside wrong values,
    another error's message). Wrong values of another comparison beside wrong values show
    nothing: a probe without shrinking stops at the first comparison that fails, and one
    wrong computation fails several (the lifecycle machine's calls and gradients). Nor does
    an attempt that could not run at all (hypothesis refused it): the feature it left out
    is not blamed."""
    if any(f.failure.kind == COULD_NOT_RUN for f in attempt.found):
        return False
    if attempt.status == Status.PASSED and attempt.examples:
        return True
    which = identity(failure)
    return bool(attempt.found) and all(
        identity(f.failure) != which
        and not (f.failure.status == Status.FAILED == failure.status) for f in attempt.found)


def _learned_condition(subject: Subject, invariant: Invariant, settings: Settings,
                       seed: int | None, digest: str, found: Found,
                       conditions: dict[str, list[str]] | None,
                       on_case: OnCase | None) -> frozenset[str] | None:
    """The condition another check learned for the same error, when this failing case has
    its features and leaving them out makes the failure go here too; else None."""
    key = same_failure_key(found.failure)
    learned = None if conditions is None or key is None else conditions.get(key)
    # what a search leaves out; the replayed conditions are tried again on this case
    learned = frozenset(learned or ()) - REPLAYED.keys()
    if not learned or not learned <= found.features | invariant.requires:
        return None
    learned -= invariant.requires
    if not learned:
        return None
    attempt = run_attempt(subject.restricted(learned), invariant, without_shrinking(settings),
                       seed, f"{digest}:learned:{','.join(sorted(learned))}", on_case)
    if not _gone(attempt, found.failure):
        return None
    if found.case is None:
        return learned
    return learned | _needed_by_replay(subject, invariant, (found.case, found.extra), learned,
                                       on_case)


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
        attempt = run_attempt(subject, invariant, settings, seed, digest, on_case)
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
                                         seed, digest, found.features, found.failure,
                                         None if found.case is None
                                         else (found.case, found.extra), on_case)
                    key = same_failure_key(found.failure)
                    if conditions is not None and key is not None and trigger:
                        conditions[key] = sorted(trigger)
                found.failure.condition = {"features": sorted(trigger),
                                           "text": describe_condition(trigger)}
                # a replayed condition is no feature a search can leave out
                triggers |= trigger - REPLAYED.keys()
            if not explore or len(outcome.failures) >= MAX_FAILURES or not triggers \
                    or not new:
                break
            excluded |= triggers
            torch.set_rng_state(torch_state)
            narrower = subject.restricted(excluded)
            attempt = run_attempt(narrower, invariant, settings, seed,
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
    from lstm_conformance.spec.protocol import BACKEND_GAPS

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
    return run_attempt(core, invariant, without_shrinking(settings), seed, f"{digest}:core",
                    on_case).status
