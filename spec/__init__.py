"""The executable specification of ``torch.nn.LSTM``.

Pure library code: configurations, hypothesis strategies, the float64 numpy oracle,
the invariant catalogue and the tolerance policy. It imports neither ``conformance``
(the runner) nor ``implementations`` (the things under test), and never pytest.
"""
