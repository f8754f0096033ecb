"""Collecting outcomes into the ``results.json`` document (schema 1, DESIGN.md contract 4).

``Collector`` is fed one record per (implementation, invariant) test as reports arrive
(from this process, or from pytest-xdist workers), and by load failures; ``document()``
builds the results dict with each implementation's verdict.
"""

from __future__ import annotations

import platform
import shlex
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

import hypothesis
import numpy
import pytest
import torch

from spec.invariants import INVARIANTS

SCHEMA = 1


def versions() -> dict:
    try:
        own = version("lstm-conformance")
    except PackageNotFoundError:
        own = None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "hypothesis": hypothesis.__version__, "numpy": numpy.__version__,
            "pytest": pytest.__version__, "lstm_conformance": own}


def verdict(entry: dict) -> str:
    if entry.get("load_error"):
        return "broken"
    bad = any(r["status"] in ("failed", "error") for r in entry["results"].values())
    return "non-conformant" if bad else "conformant"


def level(entry: dict) -> str | None:
    """``full``: conformant with nothing missing or not applicable; ``partial``: conformant
    within the capabilities it declares; ``core``: not conformant, but every check that
    failed passes on core cases (one unidirectional layer, dense input); else None."""
    if entry["verdict"] == "broken":
        return None
    if entry["verdict"] == "non-conformant":
        bad = [r for r in entry["results"].values() if r["status"] in ("failed", "error")]
        core_ok = all(r.get("core_status") in ("passed", "not_applicable") for r in bad)
        return "core" if core_ok else None
    gaps = entry.get("unsupported") or any(
        r["status"] == "not_applicable" or r.get("not_applicable_examples")
        for r in entry["results"].values())
    return "partial" if gaps else "full"


class Collector:
    def __init__(self, profile: str, seed: int, selection: dict, args: list[str]) -> None:
        self.started = datetime.now(timezone.utc)
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
        return {
            "schema": SCHEMA,
            "run": {
                "profile": self.profile, "seed": self.seed,
                "started": self.started.isoformat(timespec="seconds"),
                "duration_s": round((datetime.now(timezone.utc) - self.started)
                                    .total_seconds(), 2),
                "versions": versions(), "platform": platform.platform(),
                "command": self.command, "selection": self.selection,
            },
            "invariants": [inv.describe() for inv in INVARIANTS],
            "implementations": dict(sorted(self.implementations.items())),
        }
