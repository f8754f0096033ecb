"""Finding and loading implementations registered in ``lstm_conformance.implementations``.

``registered()`` reads the entry points of every installed distribution once per
process and imports nothing. ``load(entry)`` imports one implementation and checks that
it is usable, turning every way that can fail into a ``LoadError`` with a message that
says what happened and what to do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from lstm_conformance.spec.capabilities import declared_unsupported
from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.protocol import backend_module, is_backend

GROUP = "lstm_conformance.implementations"


class LoadError(Exception):
    """An implementation could not be imported, or what it names is not usable."""


@dataclass(frozen=True)
class Registered:
    name: str
    target: str
    distribution: str | None
    version: str | None
    entry_point: EntryPoint = field(repr=False, compare=False)


@functools.lru_cache(maxsize=1)
def registered() -> dict[str, Registered]:
    """Every registered implementation by name, sorted; built-ins and plugins alike."""
    found = {}
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        found.setdefault(ep.name, Registered(
            ep.name, ep.value, dist.metadata["Name"] if dist else None,
            dist.version if dist else None, ep,
        ))
    return dict(sorted(found.items()))


def kind_of(target: object) -> str:
    return "backend" if is_backend(target) else "drop-in"


def load(entry: Registered) -> tuple[Subject, str]:
    """Import ``entry`` and return it as a ``Subject`` with its kind (drop-in or backend)."""
    where = f"entry point {entry.name} = {entry.target}"
    if entry.distribution:
        where += f" (distribution {entry.distribution} {entry.version})"
    try:
        target = entry.entry_point.load()
    except BaseException as exc:  # an import can raise anything, SystemExit included
        raise LoadError(f"{where} failed to import: {type(exc).__name__}: {exc}. "
                        "Check that its distribution is installed in this environment.") from exc
    if is_backend(target):
        factory = backend_module(target, name=entry.name)
    elif callable(target):
        factory = target
    else:
        raise LoadError(
            f"{where} names an object of type {type(target).__name__}, which is neither a "
            "drop-in class (nn.LSTM's constructor) nor a backend object with prepare(); see README "
            "'Register your implementation'."
        )
    try:
        unsupported = declared_unsupported(factory)
    except ValueError as exc:
        raise LoadError(f"{where}: {exc}") from exc
    try:
        module = factory(**LSTMConfig(1, 1).kwargs())
    except NotImplementedError:
        module = None  # it may support other configurations; the checks will tell
    except BaseException as exc:
        raise LoadError(f"{where} could not be constructed as {entry.name}(input_size=1, "
                        f"hidden_size=1): {type(exc).__name__}: {exc}") from exc
    if module is not None and not callable(getattr(module, "load_state_dict", None)):
        raise LoadError(f"{where}: its instances have no load_state_dict(); a drop-in "
                        "implementation must accept nn.LSTM's state_dict")
    return Subject(entry.name, factory, unsupported), kind_of(target)
