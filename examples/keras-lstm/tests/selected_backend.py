"""Which Keras backend these tests run on: ``KERAS_BACKEND`` (torch or jax; default torch).

Keras 3 holds one backend per process, so the tests run once per backend, e.g.
``KERAS_BACKEND=jax pytest tests``. Findings that belong to the other backend are skipped.
"""

import os

import pytest

KERAS_BACKEND = os.environ.get("KERAS_BACKEND", "torch")
if KERAS_BACKEND not in ("torch", "jax"):
    raise pytest.UsageError(f"KERAS_BACKEND must be torch or jax, got {KERAS_BACKEND!r}")


def only_on(name: str):
    """Skip a finding of the other Keras backend."""
    return pytest.mark.skipif(KERAS_BACKEND != name, reason=f"a finding of keras-{name}")
