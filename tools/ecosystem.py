"""docs/ECOSYSTEM.md: the conformance table of real LSTM implementations, generated.

Reads every ``results.json`` under the reports directory (one per adapter environment:
``tox -m adapters`` writes ``reports/<env>/results.json``) and writes one row per
implementation that is not one of the suite's own built-ins: its framework and version,
verdict and level, the invariants it fails and its declared known failures (grouped: each
reason once, after the invariants it explains), those not applicable (with why), and the
date, profile and suite version of the run, with the fingerprint of the specification it
ran (its invariants' ids, titles, statements, expressions and requirements). A row whose
fingerprint is not the current specification's says so, with the invariants that changed
since, unless all that changed is requirements in capabilities the implementation does not
declare unsupported (which cannot move its results: the row says it is current for it);
``tests/test_ecosystem.py`` fails when a row that claims to be current is not.
Do not edit the output by hand; run::

    python tools/ecosystem.py --reports reports --out docs/ECOSYSTEM.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

OWN_DISTRIBUTION = "lstm-conformance"
BAD = ("failed", "error")
#: What of an invariant's description is its specification ("catches" is bookkeeping of
#: the seeded defects, not what an implementation is checked against).
SPEC_FIELDS = ("id", "title", "statement", "expression", "requires")
CURRENT, STALE = "current specification", "older specification"
CURRENT_FOR_IT = "current for this implementation"


def _first_line(text: str | None, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    line = line.replace("|", "\\|")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def specification(described: list[dict]) -> dict[str, str]:
    """invariant id -> the digest of its specification fields."""
    return {d["id"]: hashlib.sha256(json.dumps({f: d.get(f) for f in SPEC_FIELDS},
                                               sort_keys=True).encode()).hexdigest()
            for d in described}


def fingerprint(spec: dict[str, str]) -> str:
    """12 hex digits naming a whole specification."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def current_invariants() -> list[dict]:
    """The invariants of the suite installed here, described (imports ``spec``: torch,
    hypothesis)."""
    from lstm_conformance.spec.invariants import INVARIANTS

    return [inv.describe() for inv in INVARIANTS]


def changes(ran: dict[str, str], current: dict[str, str]) -> list[str]:
    """What differs between the specification a run used and the current one."""
    out = [f"+{i}" for i in current if i not in ran]
    out += [f"-{i}" for i in ran if i not in current]
    out += [f"~{i}" for i in current if i in ran and ran[i] != current[i]]
    return out


def requirements_only(change: str, ran: list[dict], current: list[dict],
                      unsupported: list[str]) -> bool:
    """Whether ``change`` (``~id``) changed only the invariant's ``requires``, and only in
    capabilities the implementation does not declare unsupported. Such a change cannot move
    its result: a requirement decides only whether the check applies (the runner's
    ``invariant.missing``), and one the implementation supports, added or removed, applies
    it as before."""
    if not change.startswith("~"):
        return False
    before = next(d for d in ran if d["id"] == change[1:])
    now = next(d for d in current if d["id"] == change[1:])
    others = [f for f in SPEC_FIELDS if f != "requires"]
    if any(before.get(f) != now.get(f) for f in others):
        return False
    moved = set(before.get("requires") or []) ^ set(now.get("requires") or [])
    return not moved & set(unsupported)


def rows(reports: Path, described: list[dict]) -> list[dict]:
    """One row per adapter implementation in the ``results.json`` files under ``reports``;
    ``described`` is the current specification (``Invariant.describe()`` of each)."""
    current = specification(described)
    found = []
    for path in sorted(reports.glob("*/results.json")):
        results = json.loads(path.read_text())
        run = results["run"]
        described_then = results.get("invariants") or []
        ran = specification(described_then)
        changed = changes(ran, current)
        for name, entry in results["implementations"].items():
            if entry.get("distribution") == OWN_DISTRIBUTION:
                continue
            outcomes = entry.get("results") or {}
            unsupported = entry.get("unsupported") or []
            moot = [c for c in changed if requirements_only(c, described_then, described,
                                                             unsupported)]
            found.append({
                "name": name, "source": path.parent.name,
                "framework": entry.get("framework") or entry.get("distribution") or "?",
                "verdict": entry["verdict"], "level": entry.get("level"),
                "load_error": entry.get("load_error"),
                "failing": {i: r for i, r in outcomes.items() if r["status"] in BAD},
                "known": {i: r for i, r in outcomes.items()
                          if r["status"] == "known_failure"},
                "fixed": [i for i, r in outcomes.items()
                          if r["status"] == "unexpectedly_passed"],
                "gaps": {i: r for i, r in outcomes.items() if r["status"] == "not_applicable"},
                "unsupported": unsupported,
                "profile": run.get("profile"), "date": (run.get("started") or "")[:10],
                "suite": (run.get("versions") or {}).get("lstm_conformance"),
                "spec": fingerprint(ran), "moot": [c[1:] for c in moot],
                "changes": [c for c in changed if c not in moot],
            })
    return found


def grouped(reasons: dict[str, str]) -> str:
    """``a``, ``b``: reason; ``c``: other reason — each reason once, in first-seen order."""
    by_reason: dict[str, list[str]] = {}
    for invariant, reason in reasons.items():
        by_reason.setdefault(reason, []).append(invariant)
    return "; ".join(", ".join(f"`{i}`" for i in ids) + f": {reason}"
                     for reason, ids in by_reason.items()) or "–"


def run_cell(row: dict) -> str:
    cell = f"{row['date']}, {row['profile']} profile, suite {row['suite']}, spec {row['spec']}"
    if not row["changes"] and row["moot"]:
        ids = ", ".join(f"`{i}`" for i in row["moot"])
        return (f"{cell} ({CURRENT_FOR_IT}: since, only the requirements of {ids} changed, in "
                "capabilities it does not declare unsupported)")
    if not row["changes"]:
        return f"{cell} ({CURRENT})"
    shown = ", ".join(row["changes"][:6]) + (" …" if len(row["changes"]) > 6 else "")
    return f"{cell} (**{STALE}**: {shown} since)"


def markdown(found: list[dict], described: list[dict]) -> str:
    current = specification(described)
    frameworks = sorted({row["framework"].split(" ")[0] for row in found})
    lines = [
        "# The LSTM ecosystem, checked",
        "",
        "Generated by `python tools/ecosystem.py` (`tox -e ecosystem`) from the adapters' "
        "`results.json` files (`tox -m adapters`); do not edit by hand. Each adapter lives in "
        "`examples/`, with a plain test of its weight mapping against nn.LSTM and a "
        "standalone reproduction of every difference listed here.",
        "",
        f"{len(found)} implementations from {len(frameworks)} frameworks. The current "
        f"specification is `{fingerprint(current)}` ({len(current)} invariants); a row run "
        f"with another says so in its last column (+ added, - removed, ~ changed since), "
        f"or that it is {CURRENT_FOR_IT} when only requirements changed, in capabilities "
        f"it does not declare unsupported.",
        "",
        "| implementation | framework | verdict | level | fails | known failures (upstream) "
        "| not applicable | run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in found:
        fails = grouped({i: _first_line(r.get("message")) for i, r in row["failing"].items()})
        if row["load_error"]:
            fails = f"could not be loaded: {_first_line(row['load_error'])}"
        known = grouped({i: _first_line(r.get("known_failure_reason"), 400)
                         for i, r in row["known"].items()})
        if row["fixed"]:
            known += "; fixed upstream? unexpectedly passed: " + ", ".join(row["fixed"])
        gaps = ", ".join(f"`{i}`" for i in row["gaps"]) or "–"
        if row["unsupported"]:
            gaps += f" (declares no {', '.join(row['unsupported'])})"
        lines.append(f"| `{row['name']}` | {row['framework']} | {row['verdict']} | "
                     f"{row['level'] or '–'} | {fails} | {known} | {gaps} | {run_cell(row)} |")
    if not found:
        lines.append("| (no adapter reports found: run `tox -m adapters` first) | | | | | | | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--out", type=Path, default=None, help="default: print")
    args = parser.parse_args()
    described = current_invariants()
    text = markdown(rows(args.reports, described), described)
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
