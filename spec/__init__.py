"""The executable specification of ``torch.nn.LSTM``.

Pure library code: configurations, hypothesis strategies, the float64 numpy oracle, the
invariant catalogue (``spec.invariants``, a package of chapters), the stateful machine
(``spec.stateful``) and the tolerance policy. It imports neither ``conformance`` (the
runner) nor ``implementations`` (the things under test), and never pytest.

Importing ``spec`` registers the catalogue, so a malformed declaration fails here, with
the invariant's id in the message.
"""

import lstm_conformance.spec.invariants  # noqa: F401
