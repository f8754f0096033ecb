"""The documented invariant list is the catalogue in spec/, and every entry is complete."""

import re
from pathlib import Path

from lstm_conformance.spec.capabilities import FEATURES
from lstm_conformance.spec.catalogue import markdown
from lstm_conformance.spec.invariants import INVARIANTS

ROOT = Path(__file__).resolve().parents[1]


def test_docs_invariants_is_generated_from_spec():
    assert (ROOT / "docs" / "INVARIANTS.md").read_text() == markdown(), (
        "docs/INVARIANTS.md is stale: run "
        "`python -m lstm_conformance.spec.catalogue > docs/INVARIANTS.md`")


def test_every_invariant_is_complete_and_ids_are_unique_kebab_case():
    ids = [inv.id for inv in INVARIANTS]
    assert len(ids) == len(set(ids))
    for inv in INVARIANTS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", inv.id), inv.id
        assert inv.title and inv.statement.endswith(".") and inv.expression
        assert inv.requires <= FEATURES.keys(), inv.id


def test_readme_names_every_invariant_count():
    readme = (ROOT / "README.md").read_text()
    assert f"{len(INVARIANTS)} invariants" in readme
    assert "docs/INVARIANTS.md" in readme
