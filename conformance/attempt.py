"""One hypothesis run of a check: ``run_attempt``.

An attempt runs an invariant's check on one restriction of an implementation (the whole of
it, or it without some features, as the search for conditions asks) under one profile's
settings: hypothesis draws the cases, shrinks each distinct failure on its own, and the
attempt keeps them all (``Found``), with how many examples ran, why cases were refused, the
ratios of observed to allowed error, and the largest error of each failed comparison. At
profiles of 25 examples and more it then plays the invariant's decisive cases or programs
and one plain case per dtype. ``conformance.runner`` builds a check's outcome from
attempts; ``conformance.crashsearch`` runs one in a fresh process.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import Phase, given, reject, target
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.control import currently_in_test_context
from hypothesis.errors import Flaky, Unsatisfiable, UnsatisfiedAssumption
from hypothesis.stateful import RULE_MARKER, get_state_machine_test

from lstm_conformance.outcome import Failure, error_size, failure_from
from lstm_conformance.spec.asserts import observing_ratios
from lstm_conformance.spec.capabilities import supported
from lstm_conformance.spec.errors import (
    ImplementationError,
    NotApplicable,
    Violation,
    qualified_name,
)
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import Invariant
from lstm_conformance.spec.stateful import program_features
from lstm_conformance.spec.strategies import Draws, dtype_cases
from lstm_conformance.spec.vocabulary import Status

#: The features of a state machine's program its failure's search leaves out: the
#: module's configuration, forms, state and dtypes. Not how each call is made (with
#: backward or under no_grad): a program calls both ways, and leaving one out only moves
#: the failure to a comparison of the other kind, which says nothing.
PROGRAM_SEARCHED = frozenset({"multi_layer", "bidirectional", "proj_size", "no_bias",
                              "batch_first", "unbatched", "packed", "initial_state", "dropout",
                              "float32", "float64", "float16", "bfloat16"})


@dataclass
class Found:
    """One failure of an attempt, with the shrunk case (and extra draw) that shows it."""

    failure: Failure
    case: object = None
    extra: object = None

    @property
    def features(self) -> frozenset[str]:
        """What the failing case exercises: its features, or a state machine's program's
        (the search for a condition leaves each out in turn)."""
        if self.case is not None:
            return self.case.features()
        program = (self.failure.counterexample or {}).get("program")
        return program_features(program) & PROGRAM_SEARCHED if program else frozenset()


@dataclass
class Attempt:
    """One hypothesis run of a check on one restriction of the implementation. Hypothesis
    reports each distinct bug it meets (by exception type and where it was raised), each
    shrunk on its own: ``found`` holds them all."""

    status: Status
    found: list[Found] = field(default_factory=list)
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


#: The kind of an attempt's failure when hypothesis refused to run the check at all.
COULD_NOT_RUN = "error:check-could-not-run"

#: Hears each case before it runs, with its extra draw (the crash watch notes both).
OnCase = Callable[[dict, object], None]


def run_attempt(subject: Subject, invariant: Invariant, settings: Settings, seed: int | None,
             digest: str, on_case: OnCase | None) -> Attempt:
    caps = supported(subject.unsupported)
    if invariant.missing(caps):
        return Attempt(Status.NOT_APPLICABLE)
    result = Attempt(Status.PASSED)
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
        except NotImplementedError as exc:  # refused where a check called it directly
            result.not_applicable[f"refused: {exc or 'NotImplementedError'}"] += 1
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

    machine = None
    if invariant.machine is not None:
        machine = _announcing(invariant.machine(subject), on_case)
        test = _machine_test(machine, settings, digest, result, last)
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
        _play_decisive(invariant, machine, settings, seed, caps, check)
    except Unsatisfiable:
        result.status = Status.NOT_APPLICABLE
        result.message = "every drawn case was refused: " + "; ".join(
            sorted(result.not_applicable))
    except (Violation, ImplementationError, Flaky, BaseExceptionGroup) as exc:
        bugs = exc.exceptions if isinstance(exc, BaseExceptionGroup) \
            and not isinstance(exc, Flaky) else (exc,)
        for bug in bugs:
            case, extra = getattr(bug, "lstm_case", (last.get("case"), last.get("extra")))
            result.found.append(Found(_found_failure(bug, case, extra, subject), case, extra))
        result.status = result.found[0].failure.status
        result.examples += 1
    except Exception as exc:  # hypothesis refused to run the check; keep the run going
        result.status = Status.ERROR
        result.found.append(Found(Failure(Status.ERROR, f"the check could not run: "
                                           f"{qualified_name(type(exc))}: {exc}", None,
                                           kind=COULD_NOT_RUN)))
    return result


#: Decisive cases and programs (``Invariant.decisive``) run in every check of a profile of at
#: least this many examples (default, thorough, ci), after the drawn ones have passed; the
#: quick profile is a smoke test and leaves them to chance. A check at production sizes
#: (``Invariant.stress``) draws few examples, each large, and always runs its decisive case
#: at the largest size.
DECISIVE_FROM_EXAMPLES = 25


def _play_decisive(invariant: Invariant, machine: type | None, settings: Settings,
                   seed: int | None, caps: frozenset[str], check: Callable) -> None:
    """Check the invariant's decisive cases (or play its decisive programs), which random
    draws reach only now and then, and one plain case per dtype (``dtype_cases``). A
    failing case is followed by a search narrowed to its region (its large dimension,
    form, dtype, bias and initial state), which hypothesis shrinks to the smallest failing
    case; the case itself is reported if that search misses."""
    if settings.max_examples < DECISIVE_FROM_EXAMPLES and not invariant.stress:
        return
    if machine is not None:
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
            if invariant.draws.sizes[d][-1] == {"hidden_size": case.config.hidden_size,
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


def _note_ratio(result: Attempt, ratio: float, case) -> None:
    result.ratios.append(float(f"{ratio:.3g}"))
    if result.max_ratio is None or ratio > result.max_ratio:
        result.max_ratio = ratio
        result.worst_case = {"ratio": ratio, "case": case.describe()}


def _note_largest(largest: dict[str, dict], exc: Violation, case, extra) -> None:
    """Keep ``exc`` as its comparison's largest error (by ``error_size``: over what the
    tolerance allows, so that dtypes compare) when it is larger than any before."""
    kind = str(exc.detail.get("check", "violation"))
    size = error_size(exc.detail)
    if size is None:
        return
    if kind not in largest or size > largest[kind]["size"]:
        largest[kind] = {"message": str(exc), "max_abs_diff": exc.detail["max_abs_diff"],
                         "size": size, "case": case.describe(),
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


def _announcing(machine: type, on_case: OnCase | None) -> type:
    """``machine``, telling ``on_case`` its program so far before each operation on the
    implementation: the case of a state machine is its module's configuration and the
    operations that led there, which a crash's standalone script replays."""
    if on_case is None:
        return machine

    def announce(self, program: list) -> None:
        build = dict(program[0][1]) if program and program[0][0] == "build" else {}
        on_case({**build.get("config", {}), "dtype": build.get("dtype"),
                 "program": program}, None)

    return type(machine.__name__, (machine,), {"on_operation": announce})


def _machine_test(machine: type, settings: Settings, digest: str, result: Attempt,
                  last: dict):
    """The hypothesis test that runs a state machine (``invariant.machine(subject)``)."""

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


def without_shrinking(settings: Settings) -> Settings:
    return Settings(settings, phases=[p for p in settings.phases if p != Phase.shrink])
