"""The registry of invariants: the ``Invariant`` record and the ``@invariant`` decorator.

An invariant is one keyword-only record: a stable kebab-case id, a title, one sentence in
plain words, the exact tensor expression it checks, the capabilities it needs, the cases
it is checked on (a ``spec.strategies.Draws``), what more a check draws beyond a case (a
split point, a permutation), the real bugs it catches, and the check function. Records
are validated when their chapter is imported: a wrong field or case restriction fails
``import lstm_conformance.spec.invariants`` with the invariant's id in the message, never at
the first drawn case.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hypothesis import strategies as st

from lstm_conformance.spec.capabilities import FEATURES
from lstm_conformance.spec.errors import DeclarationError
from lstm_conformance.spec.strategies import Draws, cases

_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True, kw_only=True)
class Invariant:
    id: str
    title: str
    statement: str
    expression: str
    check: Callable = field(repr=False)
    requires: frozenset[str] = frozenset()
    draws: Draws = field(default_factory=Draws, repr=False)
    extra: Callable | None = field(default=None, repr=False)
    catches: tuple[str, ...] = ()
    chapter: str = ""
    #: For a stateful check: ``machine(subject) -> RuleBasedStateMachine`` class; its
    #: ``check`` is then unused and no case is drawn up front.
    machine: Callable | None = field(default=None, repr=False)
    #: ``decisive(supported) -> [...]``: what every run checks besides what it draws, in
    #: the regions where a class of bug lives and random draws are sparse: cases (for a
    #: check of cases) or programs ``[(rule, kwargs), ...]`` (for a state machine).
    decisive: Callable | None = field(default=None, repr=False)
    #: ``precheck(subject) -> reason | None``: asked once before any case is drawn; a reason
    #: makes the whole check not applicable (a property of the implementation, not of a
    #: case, which would otherwise be found case by case).
    precheck: Callable | None = field(default=None, repr=False)
    #: A check at production sizes: run by the ``stress`` profile alone, which runs nothing
    #: else (``conformance.profiles.invariants_for``).
    stress: bool = False

    def missing(self, supported: frozenset[str]) -> frozenset[str]:
        """The required capabilities ``supported`` lacks: non-empty means not applicable."""
        return self.requires - supported

    def strategy(self, supported: frozenset[str]):
        """Cases for this invariant, within what the implementation supports.

        When the check needs more than a case (``extra``: a split point, a permutation),
        the strategy draws ``(case, extra)``.
        """
        base = cases(supported=supported, draws=self.draws)
        if self.extra is None:
            return base
        return base.flatmap(lambda case: st.tuples(st.just(case), self.extra(case)))

    def describe(self) -> dict:
        return {"id": self.id, "title": self.title, "statement": self.statement,
                "expression": self.expression, "requires": sorted(self.requires),
                "catches": list(self.catches)}


INVARIANTS: list[Invariant] = []


def invariant(*, id: str, title: str, statement: str, expression: str,
              requires: tuple[str, ...] = (), cases: Mapping[str, object] | None = None,
              extra: Callable | None = None, catches: tuple[str, ...] = (),
              decisive: Callable | None = None, precheck: Callable | None = None,
              stress: bool = False):
    """Register the decorated check as an invariant, in definition order.

    ``cases`` restricts the drawn cases: the fields of ``spec.strategies.Draws``.
    ``requires`` names capabilities the check needs beyond those its cases imply.
    ``decisive(invariant, supported)`` gives the cases every run checks besides the drawn
    ones; ``precheck(subject)`` a reason the whole check does not apply, or None;
    ``stress`` marks a check at production sizes (the ``stress`` profile's alone).
    """

    def register(check: Callable) -> Callable:
        def fail(problem: str) -> DeclarationError:
            return DeclarationError(f"invariant {id!r} ({check.__module__}.{check.__name__}): "
                                    f"{problem}")

        if not _ID.match(id):
            raise fail("the id must be kebab-case (lower-case words joined by '-')")
        if any(inv.id == id for inv in INVARIANTS):
            raise fail("this id is already registered")
        unknown = sorted(set(cases or {}) - set(Draws.field_names()))
        if unknown:
            raise fail(f"unknown case restriction {unknown}; the fields of Draws are "
                       f"{Draws.field_names()}")
        try:
            draws = Draws(**(cases or {}))
        except (DeclarationError, ValueError) as exc:
            raise fail(f"cases: {exc}") from exc
        unknown = sorted(set(requires) - FEATURES.keys())
        if unknown:
            raise fail(f"requires unknown capabilities {unknown}; known: {sorted(FEATURES)}")
        INVARIANTS.append(Invariant(
            id=id, title=title, statement=statement, expression=expression, check=check,
            requires=frozenset(requires) | draws.implied_requirements(), draws=draws,
            extra=extra, catches=catches, chapter=check.__module__.rsplit(".", 1)[-1],
            decisive=decisive, precheck=precheck, stress=stress,
        ))
        return check

    return register


def state_machine(*, id: str, title: str, statement: str, expression: str,
                  machine: Callable, requires: tuple[str, ...] = (),
                  catches: tuple[str, ...] = (), decisive: Callable | None = None) -> None:
    """Register a stateful check: ``machine(subject)`` gives the state machine class that
    hypothesis runs for one implementation. It is reported like any invariant.
    ``decisive(supported)`` gives the programs every run plays besides the drawn ones."""
    def unused(subject, case) -> None:
        raise TypeError(f"{id} is a state machine; run it with its machine")

    # The chapter is the module that registers the machine.
    unused.__module__ = sys._getframe(1).f_globals["__name__"]
    unused.__name__ = machine.__name__
    invariant(id=id, title=title, statement=statement, expression=expression,
              requires=requires, catches=catches)(unused)
    INVARIANTS.append(dataclasses.replace(INVARIANTS.pop(), machine=machine,
                                          decisive=decisive))


def by_id(invariant_id: str) -> Invariant:
    for inv in INVARIANTS:
        if inv.id == invariant_id:
            return inv
    raise KeyError(f"no invariant {invariant_id!r}; known: {[i.id for i in INVARIANTS]}")
