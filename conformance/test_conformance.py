"""One test per (implementation, invariant): ``pytest conformance``.

The plugin (``conformance.plugin``) parametrizes ``test_conformance`` over the selected
implementations and every invariant in ``spec.invariants``; ids read ``impl:invariant``.
"""

import pytest

from conformance.plugin import OUTCOME_KEY, state


def test_conformance(impl: str, invariant_id: str, request) -> None:
    outcome = state(request.config).check(impl, invariant_id)
    request.node.user_properties.append((OUTCOME_KEY, outcome))
    message = outcome["message"]
    if outcome["status"] == "not_applicable":
        pytest.skip(f"not applicable: {message}")
    if outcome["status"] in ("failed", "error"):
        reproduce = outcome.get("reproduce")
        pytest.fail(f"[{outcome['status']}] {message}\nreproduce: {reproduce}", pytrace=False)
