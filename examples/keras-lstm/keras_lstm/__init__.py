"""Keras 3's LSTM layers as lstm-conformance backends, on Keras's torch and JAX backends.

Keras 3 reads its backend once, from ``KERAS_BACKEND``, when ``keras`` is first imported,
and cannot hold two backends in one process (``keras.config.set_backend`` reloads the
package and invalidates every layer built before). So this distribution registers one
entry point per Keras backend, each in its own module:

* ``keras-torch = "keras_lstm.torch_backend:backend"``
* ``keras-jax   = "keras_lstm.jax_backend:backend"``

Importing one of those modules selects its Keras backend (``use_keras_backend``) before
``keras`` is imported. If ``keras`` is already imported with the other backend, the import
fails with an explanation and the suite reports that implementation as ``broken``: run
each one in its own pytest process (``--impl keras-torch``, then ``--impl keras-jax``),
which is what the tox environment does. Nothing here imports ``keras`` at package import,
so listing the entry points (``pytest conformance --list-impls``) is free.

The backend itself is ``keras_lstm.adapter.KerasLSTMBackend``; its module docstring gives
the weight mapping.
"""

from __future__ import annotations

import os
import sys

__all__ = ["use_keras_backend"]


def use_keras_backend(name: str) -> None:
    """Make ``name`` Keras's backend for this process, or fail if another one is loaded."""
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != name:
            raise ImportError(
                f"keras is already imported with the {loaded!r} backend in this process, and "
                f"Keras 3 cannot switch to {name!r} without invalidating every layer built "
                f"before. Run keras-{name} in its own process (pytest conformance --impl "
                f"keras-{name})."
            )
        return
    os.environ["KERAS_BACKEND"] = name
