"""The expensive preparation runs once per distinct (weights, dtype, mode, input signature).

torch-export and onnx-export cache what they exported; ``EXPORTS`` counts exports. Each
test changes one thing at a time and checks that it, and only it, prepares again, and
that what comes out after a change is nn.LSTM's answer for the new state (a stale cache
would fail that).

torch-compile's cache is dynamo's: weights are graph inputs, so a weight update must not
recompile and must be seen; dtype, mode and input shape must recompile. ``COMPILES``
counts dynamo's graphs; the inductor counters show which backend compiled them.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from conftest import reference_and_adapter
from torch._dynamo.utils import counters
from torch.testing import assert_close

from torch_transforms_lstm import compiled, exported, onnx_exported

CONFIG = dict(input_size=3, hidden_size=4, num_layers=2)


def check(adapter, reference, x, hx=None):
    with torch.no_grad():
        expected, (h_ref, c_ref) = reference(x, hx)
        output, (h_n, c_n) = adapter(x, hx)
    assert_close(output, expected)
    assert_close(h_n, h_ref)
    assert_close(c_n, c_ref)


def sgd_step(module):
    """An in-place optimizer update, as training does."""
    for p in module.parameters():
        p.grad = torch.ones_like(p)
    torch.optim.SGD(module.parameters(), lr=0.1).step()


@pytest.mark.parametrize("name, counter", [
    ("torch-export", exported.EXPORTS), ("onnx-export", onnx_exported.EXPORTS),
])
def test_export_once_per_distinct_signature(name, counter):
    reference, adapter = reference_and_adapter(name, **CONFIG)
    x = torch.randn(5, 2, 3)

    def prepares(action=None):
        before = counter.count
        if action:
            action()
        check(adapter, reference, x)
        check(adapter, reference, x)
        return counter.count - before

    assert prepares() == 1, "first call exports"
    assert prepares() == 0, "same weights, dtype, mode and input: cached"

    new = {k: torch.randn_like(v) for k, v in reference.state_dict().items()}
    assert prepares(lambda: (adapter.load_state_dict(new), reference.load_state_dict(new))) == 1
    assert prepares(lambda: (sgd_step(adapter), sgd_step(reference))) == 1

    x = torch.randn(6, 2, 3)  # another sequence length
    assert prepares() == 1
    hx = (torch.randn(2, 2, 4), torch.randn(2, 2, 4))
    before = counter.count
    check(adapter, reference, x, hx)
    check(adapter, reference, x, hx)
    assert counter.count - before == 1, "hx given is another signature"

    before = counter.count
    adapter.train()
    with torch.no_grad():
        adapter(x)
        adapter(x)
    assert counter.count - before == 1, "training mode exports again"
    adapter.eval()
    assert prepares() == 0, "back in eval mode with unchanged weights: still cached"


def test_torch_export_changes_dtype():
    reference, adapter = reference_and_adapter("torch-export", **CONFIG)
    x = torch.randn(5, 2, 3)
    check(adapter, reference, x)
    before = exported.EXPORTS.count
    adapter.double()
    reference.double()
    check(adapter, reference, x.double())
    check(adapter, reference, x.double())
    assert exported.EXPORTS.count - before == 1


def test_compile_recompiles_on_dtype_mode_shape_but_not_on_weights():
    torch._dynamo.reset()
    reference, adapter = reference_and_adapter("torch-compile", **CONFIG)
    x = torch.randn(5, 2, 3)
    inductor_before = sum(counters["inductor"].values())

    def compiles(action=None, x=x):
        before = compiled.COMPILES.count
        if action:
            action()
        check(adapter, reference, x)
        check(adapter, reference, x)
        return compiled.COMPILES.count - before

    assert compiles() == 1, "first call compiles one graph"
    assert sum(counters["inductor"].values()) > inductor_before, "inductor compiled it"
    assert compiles() == 0

    new = {k: torch.randn_like(v) for k, v in reference.state_dict().items()}
    assert compiles(lambda: (adapter.load_state_dict(new), reference.load_state_dict(new))) == 0
    assert compiles(lambda: (sgd_step(adapter), sgd_step(reference))) == 0

    assert compiles(x=torch.randn(7, 3, 3)) == 1, "another shape recompiles"
    assert compiles(lambda: (adapter.double(), reference.double()), x=x.double()) == 1

    before = compiled.COMPILES.count
    adapter.train()
    with torch.no_grad():
        adapter(x.double())
    assert compiled.COMPILES.count - before == 1, "training mode recompiles"


def test_compiled_float64_result_comes_from_the_compiled_graph():
    reference, adapter = reference_and_adapter("torch-compile", torch.float64, **CONFIG)
    output, _ = adapter(torch.randn(5, 2, 3, dtype=torch.float64))
    assert type(output.grad_fn).__name__ == "CompiledFunctionBackward"


def test_torchscript_reads_weight_updates_without_a_cache():
    reference, adapter = reference_and_adapter("torchscript", **CONFIG)
    x = torch.randn(5, 2, 3)
    check(adapter, reference, x)
    sgd_step(adapter)
    sgd_step(reference)
    check(adapter, reference, x)
    adapter.double()
    reference.double()
    check(adapter, reference, x.double())


@pytest.mark.parametrize("name", ["torch-export", "onnx-export"])
def test_a_replaced_parameter_is_not_what_is_exported(name):
    """The limitation both declare for parameter-identity: the eager twin that is exported
    holds the Parameter objects of construction, so a weight replaced by a new
    nn.Parameter prepares again (its address changed) but exports the old one."""
    reference, adapter = reference_and_adapter(name, **CONFIG)
    x = torch.randn(5, 2, 3)
    check(adapter, reference, x)
    new = torch.nn.Parameter(torch.randn_like(reference.weight_ih_l0))
    adapter.weight_ih_l0 = new
    reference.weight_ih_l0 = torch.nn.Parameter(new.detach().clone())
    with torch.no_grad():
        expected = reference(x)[0]
        stale = adapter(x)[0]
    assert (stale - expected).abs().max() > 1e-3
