"""One Keras backend per process: the other entry point refuses to load, and says why."""

import importlib

import pytest
from selected_backend import KERAS_BACKEND


def test_this_process_runs_the_selected_keras_backend(backend):
    import keras

    assert keras.backend.backend() == KERAS_BACKEND


def test_the_other_keras_backend_refuses_to_load(backend):
    other = "jax" if KERAS_BACKEND == "torch" else "torch"
    with pytest.raises(ImportError, match=f"Run keras-{other} in its own process"):
        importlib.import_module(f"keras_lstm.{other}_backend")
