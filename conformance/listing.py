"""``--list-impls`` / ``lstm-conformance list``: what is registered, and what it supports."""

from __future__ import annotations

from lstm_conformance.discovery import LoadError, load, registered
from lstm_conformance.spec.capabilities import FEATURES


def listing() -> str:
    entries = registered()
    if not entries:
        return ("No implementations registered in 'lstm_conformance.implementations'. "
                "Is lstm-conformance installed in this environment?")
    lines = []
    for name, entry in entries.items():
        dist = f"{entry.distribution} {entry.version}" if entry.distribution else "?"
        lines.append(f"{name}  ({dist})  {entry.target}")
        try:
            subject, kind = load(entry)
        except LoadError as exc:
            lines.append(f"    BROKEN: {exc}")
            continue
        gaps = sorted(subject.unsupported)
        lines.append(f"    kind: {kind}; unsupported: {', '.join(gaps) if gaps else 'nothing'}")
        lines.append(f"    supports: {', '.join(f for f in FEATURES if f not in gaps)}")
    return "\n".join(lines)
