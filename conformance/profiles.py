"""The hypothesis settings behind ``--lstm-profile``, and which checks each profile runs.

They are applied only to the conformance checks (never loaded globally), so a project's
own hypothesis settings are untouched.

The ``stress`` profile is apart: it runs only the checks at production sizes (the
invariants registered with ``stress=True``, ``spec/invariants/stress.py``: batches past a
thousand, hidden sizes past 1024, sequences past 65,536 steps), which take minutes, and
every other profile leaves them out.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

PROFILES = {
    # A smoke test: a few examples per invariant.
    "quick": {"max_examples": 5},
    # What `tox` runs.
    "default": {"max_examples": 25},
    # For releases and for measuring false alarms.
    "thorough": {"max_examples": 200},
    # CI: derandomized, so two runs give the same verdicts and counterexamples.
    "ci": {"max_examples": 25, "derandomize": True},
    # Production sizes: few examples, each large (the checks' docstrings give their time).
    # The decisive case at the largest size runs besides them (conformance.runner).
    "stress": {"max_examples": 4},
}

#: The profile that runs the production-size checks, and only them.
STRESS = "stress"

_COMMON = dict(
    deadline=None,  # implementations may be slow; hangs are pytest-timeout's job
    print_blob=True,
    # Every distinct bug hypothesis meets in a check, each shrunk on its own
    # (conformance.runner keeps them all, and searches for more with their conditions
    # left out).
    report_multiple_bugs=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large, HealthCheck.differing_executors],
    # Every phase but explain, which costs hundreds of calls per failure and adds nothing
    # that the report shows.
    phases=tuple(p for p in Phase if p != Phase.explain),
)


def invariants_for(profile: str) -> list:
    """The invariants a run at ``profile`` checks, in catalogue order."""
    from lstm_conformance.spec.invariants import INVARIANTS

    return [inv for inv in INVARIANTS if inv.stress == (profile == STRESS)]


def profile_settings(name: str) -> settings:
    """The settings of profile ``name`` (a ``KeyError`` for an unknown one).

    Built on hypothesis's own "default" profile, not on whichever profile is loaded, so a
    profile means the same everywhere (hypothesis loads its derandomized, database-less
    "ci" profile by itself where the CI variable is set).
    """
    return settings(settings.get_profile("default"), **_COMMON, **PROFILES[name])
