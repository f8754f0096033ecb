"""Which implementations a run checks, loaded once, with what each declares.

``Selection`` turns ``--lstm-impl`` into registered entry points (an unknown name is a
usage error that lists the registered ones), loads each once (a plugin that cannot be
loaded is recorded as broken, never raised), and keeps what each implementation declares
about itself: capabilities it lacks, a tolerance of its own, checks it is known to fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lstm_conformance.discovery import GROUP, LoadError, load, registered
from lstm_conformance.spec.harness import Subject

#: The attribute an implementation sets to declare checks it is known to fail:
#: ``{"invariant-id": "reason, with the upstream issue"}``.
KNOWN_FAILURES_ATTRIBUTE = "lstm_conformance_known_failures"
#: The attribute that names the framework behind an implementation, with its version
#: (``"onnxruntime 1.32.0"``): the ecosystem table prints it.
FRAMEWORK_ATTRIBUTE = "lstm_conformance_framework"


class SelectionError(Exception):
    """The command line names implementations that are not registered."""


def declared_known_failures(target: object, invariant_ids: set[str]) -> dict[str, str]:
    """The checks ``target`` declares it is known to fail, with their reasons; an unknown
    invariant id or a missing reason is a ``ValueError``."""
    raw = getattr(target, KNOWN_FAILURES_ATTRIBUTE, None) or {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{KNOWN_FAILURES_ATTRIBUTE} must map invariant ids to reasons, "
                         f"got {type(raw).__name__}")
    unknown = sorted(set(raw) - invariant_ids)
    if unknown:
        raise ValueError(f"{KNOWN_FAILURES_ATTRIBUTE} names unknown invariants {unknown}")
    empty = sorted(k for k, v in raw.items() if not str(v or "").strip())
    if empty:
        raise ValueError(f"{KNOWN_FAILURES_ATTRIBUTE}: give a reason for {empty}")
    return {k: str(v) for k, v in raw.items()}


@dataclass
class Loaded:
    """One selected implementation: its subject if it loaded, else why not."""

    name: str
    info: dict
    subject: Subject | None = None
    load_error: str | None = None
    known_failures: dict[str, str] = field(default_factory=dict)
    tolerance: dict | None = None


class Selection:
    def __init__(self, names: list[str] | None, exclude: list[str] = (),
                 device: str = "cpu") -> None:
        from lstm_conformance.spec.capabilities import FEATURES

        self.requested = names
        #: ``--lstm-device``: where every implementation is built and called.
        self.device = device
        self.exclude = frozenset(exclude)
        unknown = sorted(self.exclude - FEATURES.keys())
        if unknown:
            raise SelectionError(f"--lstm-exclude names unknown capabilities {unknown}; "
                                 f"known: {', '.join(FEATURES)}")
        self._loaded: dict[str, Loaded] = {}
        self._observer = None

    def observe(self, observer) -> None:
        """Have every implementation's builds and calls timed by ``observer(phase, seconds)``
        (``spec.harness.CallObserver``): the supported way to measure them."""
        self._observer = observer
        for loaded in self._loaded.values():
            if loaded.subject is not None:
                loaded.subject.observer = observer

    def names(self) -> list[str]:
        """The selected names: every registered one when none were asked for."""
        known = registered()
        if not self.requested:
            return list(known)
        unknown = [n for n in self.requested if n not in known]
        if unknown:
            listed = ", ".join(known) or "none (is lstm-conformance installed here?)"
            raise SelectionError(
                f"unknown implementation {', '.join(map(repr, unknown))} for --lstm-impl; "
                f"registered: {listed}. Register one in the '{GROUP}' entry-point group "
                "(README: Register your implementation).")
        return list(dict.fromkeys(self.requested))

    def check_device(self) -> None:
        """A device torch does not know, or cannot reach here, is a usage error before
        anything runs (not one error per check)."""
        import torch

        try:
            torch.empty(1, device=self.device)
        except (RuntimeError, ValueError, AssertionError) as exc:
            raise SelectionError(f"--lstm-device {self.device}: torch cannot make a tensor "
                                 f"there ({str(exc).splitlines()[0]}). Name a device this "
                                 "machine has (cpu, cuda, cuda:1, mps, xpu, ...).") from exc

    def load_all(self) -> dict[str, Loaded]:
        return {name: self.load(name) for name in self.names()}

    def load(self, name: str) -> Loaded:
        if name in self._loaded:
            return self._loaded[name]
        from lstm_conformance.spec.invariants import INVARIANTS
        from lstm_conformance.spec.tolerance import declared_tolerance

        entry = registered()[name]
        info = {"distribution": entry.distribution, "version": entry.version,
                "target": entry.target, "kind": None, "unsupported": []}
        loaded = Loaded(name, info)
        try:
            subject, kind = load(entry)
            loaded.known_failures = declared_known_failures(subject.factory,
                                                            {i.id for i in INVARIANTS})
            loaded.tolerance = declared_tolerance(subject.factory)
        except (LoadError, ValueError) as exc:
            loaded.load_error = str(exc)
        else:
            loaded.subject = subject.restricted(self.exclude).on(self.device)
            info["device"] = str(loaded.subject.device)
            loaded.subject.observer = self._observer
            info.update(kind=kind, unsupported=sorted(subject.unsupported))
            framework = getattr(subject.factory, FRAMEWORK_ATTRIBUTE, None) \
                or requirement_versions(entry.distribution)
            if framework:
                info["framework"] = str(framework)
            if loaded.known_failures:
                info["known_failures"] = loaded.known_failures
            if loaded.tolerance:
                info["declared_tolerance"] = {
                    str(dtype).removeprefix("torch."): t.as_dict()
                    for dtype, t in loaded.tolerance.items()}
        self._loaded[name] = loaded
        return loaded


def requirement_versions(distribution: str | None) -> str | None:
    """What a plugin's distribution requires, as installed ("onnxruntime 1.20.1, numpy
    2.2.0"): the frameworks behind a plugin that does not name them itself. None for the
    suite's own distribution (its built-ins are torch's) and where nothing is known."""
    import re
    from importlib import metadata

    if not distribution or distribution.lower().replace("_", "-") == "lstm-conformance":
        return None
    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return None
    found = []
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
        if name.lower().replace("_", "-") == "lstm-conformance":
            continue
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found) or None
