"""docs/ECOSYSTEM.md: the conformance table of real LSTM implementations, generated.

Reads every ``results.json`` under the reports directory (one per adapter environment:
``tox -m adapters`` writes ``reports/<env>/results.json``) and writes one row per
implementation that is not one of the suite's own built-ins: its framework and version,
verdict and level, the invariants it fails and its declared known failures (grouped: each
reason once, after the invariants it explains), those not applicable (with why), and the
date, profile and suite version of the run, with the fingerprint of the specification it
ran (its invariants' ids, titles, statements, expressions and requirements). A row whose
fingerprint is not the current specification's says so, with the invariants that changed
since; ``tests/test_ecosystem.py`` fails when a row that claims to be current is not.
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


def current_specification() -> dict[str, str]:
    """The specification of the suite installed here (imports ``spec``: torch, hypothesis)."""
    from lstm_conformance.spec.invariants import INVARIANTS

    return specification([inv.describe() for inv in INVARIANTS])


def changes(ran: dict[str, str], current: dict[str, str]) -> list[str]:
    """What differs between the specification a run used and the current one."""
    out = [f"+{i}" for i in current if i not in ran]
    out += [f"-{i}" for i in ran if i not in current]
    out += [f"~{i}" for i in current if i in ran and ran[i] != current[i]]
    return out


def rows(reports: Path, current: dict[str, str]) -> list[dict]:
    found = []
    for path in sorted(reports.glob("*/results.json")):
        results = json.loads(path.read_text())
        run = results["run"]
        ran = specification(results.get("invariants") or [])
        for name, entry in results["implementations"].items():
            if entry.get("distribution") == OWN_DISTRIBUTION:
                continue
            outcomes = entry.get("results") or {}
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
                "unsupported": entry.get("unsupported") or [],
                "profile": run.get("profile"), "date": (run.get("started") or "")[:10],
                "suite": (run.get("versions") or {}).get("lstm_conformance"),
                "spec": fingerprint(ran), "changes": changes(ran, current),
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
    if not row["changes"]:
        return f"{cell} ({CURRENT})"
    shown = ", ".join(row["changes"][:6]) + (" …" if len(row["changes"]) > 6 else "")
    return f"{cell} (**{STALE}**: {shown} since)"


def markdown(found: list[dict], current: dict[str, str]) -> str:
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
        f"with another says so in its last column (+ added, - removed, ~ changed since).",
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
    current = current_specification()
    text = markdown(rows(args.reports, current), current)
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
