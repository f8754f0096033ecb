"""The built-in implementations under test, each a drop-in ``nn.LSTM``.

They register like any plugin, through the ``lstm_conformance.implementations`` entry
points in the project's ``pyproject.toml``. Nothing here imports ``conformance``.
"""
