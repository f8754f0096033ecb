"""Collecting outcomes into the ``results.json`` document (schema 1; the full description
is ``docs/results.schema.json``).

``Collector`` is fed one record per (implementation, invariant) check as reports arrive
(from this process, or from pytest-xdist workers), and by load failures; ``document()``
builds the results dict with each implementation's verdict, level and root causes.
"""

from __future__ import annotations

import platform
import shlex
from collections import defaultdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import hypothesis
import numpy
import pytest
import torch

from spec.invariants import INVARIANTS
from spec.vocabulary import Level, Status

SCHEMA = 1


def versions() -> dict:
    try:
        own = version("lstm-conformance")
    except PackageNotFoundError:
        own = None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "hypothesis": hypothesis.__version__, "numpy": numpy.__version__,
            "pytest": pytest.__version__, "lstm_conformance": own}


def _bad(entry: dict) -> list[dict]:
    return [r for r in entry["results"].values() if Status(r["status"]).is_bad]


def verdict(entry: dict) -> str:
    """``broken``: it could not be loaded; ``non-conformant``: a check failed or erred
    (declared known failures do not count); else ``conformant``."""
    if entry.get("load_error"):
        return "broken"
    return "non-conformant" if _bad(entry) else "conformant"


def level(entry: dict) -> Level | None:
    """``full``: conformant, nothing declared missing, known to fail or found not applicable;
    ``partial``: conformant within the capabilities and known failures it declares;
    ``approximate``: conformant within a tolerance it declares itself; ``core``: not
    conformant, but every check that failed passes on core cases (one unidirectional
    layer, dense input); else None (broken, or wrong even on core cases)."""
    if entry["verdict"] == "broken":
        return None
    if entry["verdict"] == "non-conformant":
        core_ok = all(r.get("core_status") in (Status.PASSED, Status.NOT_APPLICABLE)
                      for r in _bad(entry))
        return Level.CORE if core_ok else None
    if entry.get("declared_tolerance"):
        return Level.APPROXIMATE
    gaps = entry.get("unsupported") or any(
        r["status"] in (Status.NOT_APPLICABLE, Status.KNOWN_FAILURE)
        or r.get("not_applicable_examples") for r in entry["results"].values())
    return Level.PARTIAL if gaps else Level.FULL


def root_causes(entry: dict) -> list[dict]:
    """Failures of several checks grouped by what went wrong (the stable ``kind``) and the
    condition that triggers it, largest group first: one loud bug reads as one cause with
    the checks it broke, not as many identical failures."""
    groups: dict[tuple, dict] = {}
    members: dict[tuple, list[str]] = defaultdict(list)
    for invariant_id, result in entry["results"].items():
        if not Status(result["status"]).is_bad:
            continue
        for failure in result.get("failures") or []:
            condition = (failure.get("condition") or {}).get("text") or ""
            key = (failure["status"], failure.get("kind"), condition)
            groups.setdefault(key, {"status": failure["status"], "kind": failure.get("kind"),
                                    "condition": condition or None,
                                    "message": failure["message"]})
            members[key].append(invariant_id)
    causes = []
    for key, group in groups.items():
        checks = sorted(set(members[key]), key=[i.id for i in INVARIANTS].index)
        headline = f"{len(checks)} check{'s' if len(checks) > 1 else ''}: {group['message']}"
        if group["condition"]:
            headline += f" ({group['condition']})"
        causes.append({**group, "checks": checks, "headline": headline})
    return sorted(causes, key=lambda c: -len(c["checks"]))


def headline(entry: dict) -> str | None:
    """One line for an implementation that cannot run at all: nothing passed, and every
    failing check failed the same way on every kind of case."""
    causes = entry.get("root_causes") or []
    if len(causes) != 1 or any(r["status"] == Status.PASSED for r in entry["results"].values()):
        return None
    cause = causes[0]
    if cause["condition"] and cause["condition"] != "on every kind of case tried":
        return None
    return (f"Cannot run its simplest case: every check ({len(cause['checks'])}) "
            f"{'erred' if cause['status'] == Status.ERROR else 'failed'} with: "
            f"{cause['message']}")


class Collector:
    def __init__(self, profile: str, seed: int | None, selection: dict, args: list[str]) -> None:
        self.started = datetime.now(UTC)
        self.profile, self.seed, self.selection = profile, seed, selection
        self.command = "pytest " + " ".join(shlex.quote(a) for a in args)
        self.implementations: dict[str, dict] = {}

    def implementation(self, name: str, **info) -> dict:
        entry = self.implementations.setdefault(
            name, {"verdict": None, "load_error": None, "results": {}})
        entry.update(info)
        return entry

    def record(self, impl: str, invariant_id: str, outcome: dict) -> None:
        self.implementation(impl)["results"][invariant_id] = outcome

    def document(self) -> dict:
        order = {inv.id: n for n, inv in enumerate(INVARIANTS)}
        for entry in self.implementations.values():
            entry["results"] = dict(sorted(entry["results"].items(),
                                           key=lambda kv: order.get(kv[0], len(order))))
            entry["verdict"] = verdict(entry)
            entry["level"] = level(entry)
            entry["root_causes"] = root_causes(entry)
            entry["headline"] = headline(entry)
            entry["warnings"] = sorted({w for r in entry["results"].values()
                                        for w in r.get("warnings") or []})
        partial = bool(self.selection.get("keyword"))
        return {
            "schema": SCHEMA,
            "run": {
                "profile": self.profile, "seed": self.seed,
                "started": self.started.isoformat(timespec="seconds"),
                "duration_s": round((datetime.now(UTC) - self.started)
                                    .total_seconds(), 2),
                "versions": versions(), "platform": platform.platform(),
                "command": self.command, "selection": self.selection, "partial": partial,
            },
            "invariants": [inv.describe() for inv in INVARIANTS],
            "implementations": dict(sorted(self.implementations.items())),
        }
