"""The backend protocol: a slow backend's preparation is done once per distinct weights,
dtype, mode (and input signature, for one that prepares per shape), and reused."""

import pytest
import torch
from hypothesis import settings

from lstm_conformance.implementations.numpy_reference import OracleBackend
from lstm_conformance.profiles import profile_settings
from lstm_conformance.runner import run_check
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants import by_id
from lstm_conformance.spec.protocol import backend_module


class CountingBackend(OracleBackend):
    """The oracle backend, counting its preparations, returning read-only arrays."""

    def __init__(self, per_shape: bool = False) -> None:
        self.prepared = []
        self.prepare_per_shape = per_shape

    def prepare(self, config, weights, dtype, training, signature=None):
        self.prepared.append((dtype, training, signature))
        run = super().prepare(config, weights, dtype, training)

        def read_only(x, hx, lengths):
            arrays = run(x, hx, lengths)
            for a in arrays:
                a.setflags(write=False)
            return arrays

        return read_only


def _module(backend):
    module = backend_module(backend)(3, 4)
    module.load_state_dict(torch.nn.LSTM(3, 4).state_dict())
    return module.eval()


def test_prepared_once_per_weights_dtype_and_mode(recwarn):
    backend = CountingBackend()
    module = _module(backend)
    x = torch.randn(5, 2, 3)
    for _ in range(3):
        module(x)
    module(torch.randn(7, 4, 3))  # another shape: no new preparation
    assert len(backend.prepared) == 1
    module.load_state_dict(torch.nn.LSTM(3, 4).state_dict())
    module(x)
    assert len(backend.prepared) == 2  # new weights
    with torch.no_grad():
        module.weight_ih_l0.add_(0.1)  # an optimizer-style in-place update
    module(x)
    assert len(backend.prepared) == 3
    module.train()
    module(x)
    module.to(torch.float64)
    module(x.double())
    assert [(str(d), t) for d, t, _ in backend.prepared[3:]] == [("float32", True),
                                                                 ("float64", True)]
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_a_round_trip_through_float32_prepares_again():
    """Found by the lifecycle check: .to(float32) then .to(float64) leaves parameters with
    the same identity and version counter, but rounded values."""
    backend = CountingBackend()
    module = _module(backend).to(torch.float64)
    module.load_state_dict(torch.nn.LSTM(3, 4, dtype=torch.float64).state_dict())
    x = torch.randn(3, 2, 3, dtype=torch.float64)
    before = module(x)[0]
    module.to(torch.float32).to(torch.float64)
    after = module(x)[0]
    reference = torch.nn.LSTM(3, 4).double()
    reference.load_state_dict({k: v.detach() for k, v in module.named_parameters()})
    torch.testing.assert_close(after, reference(x)[0], rtol=1e-12, atol=1e-12)
    assert not torch.equal(before, after)


def test_prepared_once_per_shape_when_the_backend_asks():
    backend = CountingBackend(per_shape=True)
    module = _module(backend)
    for L, N in ((5, 2), (5, 2), (7, 2), (5, 2)):
        module(torch.randn(L, N, 3))
    assert [s for _, _, s in backend.prepared] == [(5, 2, False, False), (7, 2, False, False)]


@pytest.mark.parametrize("per_shape", [False, True])
def test_a_caching_backend_passes_the_lifecycle_checks(per_shape):
    backend = CountingBackend(per_shape=per_shape)
    subject = Subject("counting", backend_module(backend),
                      backend_module(backend).lstm_conformance_unsupported)
    outcome = run_check(subject, by_id("lifecycle"),
                        settings(profile_settings("quick"), database=None), 0)
    assert outcome.status == "passed", outcome.message
    assert outcome.examples > 0
