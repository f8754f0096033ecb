"""The invariant catalogue as Markdown:
``python -m lstm_conformance.spec.catalogue > docs/INVARIANTS.md``.

``docs/INVARIANTS.md`` is this module's output, committed; a test in ``tests/`` fails
when the two differ, so the documentation cannot drift from ``spec.invariants``. Each
chapter's heading is the first line of its module's docstring.
"""

from __future__ import annotations

import importlib

from lstm_conformance.spec.capabilities import FEATURES
from lstm_conformance.spec.invariants import INVARIANTS


def _chapter_title(chapter: str) -> str:
    doc = importlib.import_module(f"lstm_conformance.spec.invariants.{chapter}").__doc__ or chapter
    return doc.strip().splitlines()[0].rstrip(".")


def markdown() -> str:
    lines = [
        "# Invariants",
        "",
        "Generated from `spec/invariants/` by `python -m lstm_conformance.spec.catalogue > "
        "docs/INVARIANTS.md`; do not edit by hand (`tests/test_catalogue.py` checks it).",
        "",
        "Notation: `o` is the output read seq-first (`o[t, n, :]`), padded with zeros for "
        "packed input; `D` = 2 if bidirectional else 1; `H_o` = proj_size or hidden_size; "
        "`top = (num_layers-1)*D`; rows of h_n / c_n are `layer*D + direction`; `T` is the "
        "sequence length. Tolerances: [TOLERANCES.md](TOLERANCES.md).",
        "",
        "| # | id | invariant | needs |",
        "|---|---|---|---|",
    ]
    for n, inv in enumerate(INVARIANTS, 1):
        needs = ", ".join(f"`{r}`" for r in sorted(inv.requires)) or "-"
        lines.append(f"| {n} | [`{inv.id}`](#{inv.id}) | {inv.title} | {needs} |")
    chapter = None
    for inv in INVARIANTS:
        if inv.chapter != chapter:
            chapter = inv.chapter
            lines += ["", f"# {_chapter_title(chapter)}", "",
                      f"From `spec/invariants/{chapter}.py`."]
        lines += ["", f"## {inv.id}", "", f"**{inv.title}.** {inv.statement}", "",
                  f"Checks: `{inv.expression}`", ""]
        if inv.requires:
            needs = "; ".join(f"`{r}` ({FEATURES[r]})" for r in sorted(inv.requires))
            lines += [f"Needs: {needs}. Not applicable to an implementation that lacks it.", ""]
        if inv.catches:
            lines += ["Catches: " + "; ".join(inv.catches) + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
