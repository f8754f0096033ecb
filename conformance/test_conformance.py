"""One test per (implementation, invariant): ``pytest conformance``.

The plugin (``conformance.plugin``) parametrizes ``test_conformance`` over the selected
implementations and every invariant in ``spec.invariants``; ids read ``impl:invariant``.
"""

import pytest

from lstm_conformance.plugin import conformance_run
from lstm_conformance.session import OUTCOME_KEY
from lstm_conformance.spec.vocabulary import Status


def test_conformance(impl: str, invariant_id: str, request) -> None:
    outcome = conformance_run(request.config).check(impl, invariant_id)
    request.node.user_properties.append((OUTCOME_KEY, outcome))
    status, message = Status(outcome["status"]), outcome["message"]
    if status == Status.NOT_APPLICABLE:
        pytest.skip(f"not applicable: {message}")
    if status == Status.KNOWN_FAILURE:
        pytest.xfail(f"known failure ({outcome['known_failure_reason']}): {message}")
    if status.is_bad:
        pytest.fail(f"[{status}] {message}\nreproduce: {outcome.get('reproduce')}",
                    pytrace=False)
