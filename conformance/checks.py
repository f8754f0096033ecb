"""The conformance checks inside a user's own test suite: ``parametrize_with_checks``.

In the spirit of scikit-learn's ``parametrize_with_checks``: one decorator in the user's
test module turns their implementation (a drop-in class or a backend object) into one
pytest test per invariant, with the capabilities, tolerance and known failures the
implementation declares::

    from lstm_conformance.checks import parametrize_with_checks
    from my_kernels import FusedLSTM

    @parametrize_with_checks(FusedLSTM)
    def test_fused_lstm(check):
        check()

A failing check fails its test with the counterexample; a declared known failure is an
``xfail`` with its reason (an ``XPASS`` once fixed); a check the implementation cannot be
given is skipped with the reason. No report is written unless ``report_dir`` is given.
Checks run derandomized (the ``ci`` profile) unless told otherwise, so a CI run is
repeatable. ``device="cuda"`` builds and calls the implementation there (cases are made
and judged on the CPU, as with ``--lstm-device``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lstm_conformance.outcome import Outcome
from lstm_conformance.profiles import invariants_for, profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.selection import declared_known_failures
from lstm_conformance.spec.capabilities import declared_unsupported
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import Invariant
from lstm_conformance.spec.precision import policy
from lstm_conformance.spec.protocol import backend_module, is_backend
from lstm_conformance.spec.tolerance import declared_tolerance
from lstm_conformance.spec.vocabulary import Status


@dataclass
class Check:
    """One invariant on one implementation; calling it runs the check in the test."""

    name: str
    subject: Subject
    invariant: Invariant
    profile: str
    known_failure: str | None
    tolerance: dict | None
    outcomes: dict
    report_dir: Path | None = None
    #: How many checks the whole set holds (a report of fewer is partial).
    of: int = 0

    def __call__(self) -> Outcome:
        __tracebackhide__ = True
        outcome = run_check(self.subject, self.invariant, profile_settings(self.profile),
                            declared_tolerance=self.tolerance)
        if self.known_failure is not None:
            from lstm_conformance.session import apply_known_failure

            apply_known_failure(outcome, self, self.invariant.id)
        self.outcomes[self.invariant.id] = outcome.as_dict()
        if self.report_dir is not None:
            self._write_report()
        status = Status(outcome.status)
        if status == Status.NOT_APPLICABLE:
            pytest.skip(f"not applicable: {outcome.message}")
        if status == Status.KNOWN_FAILURE:
            pytest.xfail(f"known failure ({self.known_failure}): {outcome.message}")
        if status == Status.UNEXPECTEDLY_PASSED:
            pytest.fail(f"{self.invariant.id}: declared a known failure "
                        f"({self.known_failure}), but it passed: remove the declaration",
                        pytrace=False)
        if status.is_bad:
            condition = ((outcome.failures[0].get("condition") or {}).get("text")
                         if outcome.failures else None)
            pytest.fail(f"[{status}] {self.invariant.id}: {outcome.message}"
                        + (f"\nfails {condition}" if condition else "")
                        + f"\ncounterexample: {outcome.counterexample}", pytrace=False)
        return outcome

    @property
    def known_failures(self) -> dict[str, str]:  # what apply_known_failure reads
        return {self.invariant.id: self.known_failure}

    def _write_report(self) -> None:
        """results.json and index.html of the checks run so far (each call rewrites it)."""
        from lstm_conformance.report import write_reports
        from lstm_conformance.results import Collector

        device = str(self.subject.device)
        collector = Collector(self.profile, None, {"impl": [self.name], "keyword": None},
                              ["parametrize_with_checks"], device=device,
                              precision=policy(device))
        collector.implementation(self.name, unsupported=sorted(self.subject.unsupported))
        for invariant_id, outcome in self.outcomes.items():
            collector.record(self.name, invariant_id, outcome)
        document = collector.document()
        document["run"]["partial"] = len(self.outcomes) < self.of
        write_reports(self.report_dir, document)

    def __repr__(self) -> str:
        return f"{self.name}:{self.invariant.id}"


def checks_for(implementation: object, *, name: str | None = None, profile: str = "ci",
               only: Iterable[str] | None = None,
               report_dir: str | Path | None = None, device: str = "cpu") -> list[Check]:
    """One ``Check`` per invariant of ``profile`` (or per id in ``only``) for
    ``implementation``, built and called on ``device``."""
    factory: Callable = backend_module(implementation) if is_backend(implementation) \
        else implementation
    name = name or getattr(implementation, "__name__", type(implementation).__name__)
    subject = Subject(name, factory, declared_unsupported(factory), device=device)
    invariants = invariants_for(profile)
    known = declared_known_failures(factory, {inv.id for inv in invariants})
    tolerance = declared_tolerance(factory)
    wanted = set(only) if only is not None else None
    outcomes: dict = {}
    chosen = [inv for inv in invariants if wanted is None or inv.id in wanted]
    return [Check(name, subject, inv, profile, known.get(inv.id), tolerance, outcomes,
                  Path(report_dir) if report_dir is not None else None, len(invariants))
            for inv in chosen]


def parametrize_with_checks(implementation: object, *, name: str | None = None,
                            profile: str = "ci", only: Iterable[str] | None = None,
                            report_dir: str | Path | None = None, device: str = "cpu"):
    """A ``pytest.mark.parametrize`` over every check of ``implementation``, as ``check``.

    ``profile`` is one of quick, default, thorough, ci (or stress: the production-size
    checks alone); ``only`` limits the invariants; with ``report_dir``, results.json and
    index.html there hold every check run so far; ``device`` is where the implementation
    is built and called (``--lstm-device``).
    """
    checks = checks_for(implementation, name=name, profile=profile, only=only,
                        report_dir=report_dir, device=device)
    return pytest.mark.parametrize("check", checks, ids=[c.invariant.id for c in checks])
