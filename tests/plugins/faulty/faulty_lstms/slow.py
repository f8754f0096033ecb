"""``faulty-slow``: a correct numpy LSTM in the backend protocol that takes seconds to
prepare, as a compiling framework does (ONNX export, torch.compile, OpenVINO): each
``prepare`` sleeps ``FAULTY_SLOW_PREPARE_S`` seconds (default 2). It is conformant within
its declared gaps; what it tests is that a run of it completes with every check reported,
whatever the time limit does to a check or two."""

from __future__ import annotations

import os
import time

from faulty_lstms.backend import PartialBackend


class SlowBackend(PartialBackend):
    # Its dropout masks come from numpy's generator, not torch's: torch.manual_seed does not
    # repeat them (the default profile's dropout-distribution says so if undeclared).
    lstm_conformance_unsupported = frozenset({"seeded_dropout"})

    def prepare(self, config, weights, dtype, training):
        time.sleep(float(os.environ.get("FAULTY_SLOW_PREPARE_S", "2")))
        return super().prepare(config, weights, dtype, training)


backend = SlowBackend()
