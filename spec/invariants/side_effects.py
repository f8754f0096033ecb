"""Chapter 7: gradients and side effects.

Gradients through the implementation equal those of the float64 equations; building,
loading and calling it leaves the caller's tensors alone; and the same call gives the same
answer, bitwise.
"""

from __future__ import annotations

import torch

from lstm_conformance.spec import tolerance
from lstm_conformance.spec.asserts import assert_close, assert_equal
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.errors import Violation
from lstm_conformance.spec.harness import OUTPUT_DIMS, STATE_DIMS, Subject
from lstm_conformance.spec.invariants.common import compare_all
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.oracle import lstm_forward
from lstm_conformance.spec.vocabulary import Form


def loss_weights(result_shapes, seed: int) -> list[torch.Tensor]:
    """The random coefficients R1, R2, R3 of the linear loss whose gradients are compared."""
    g = torch.Generator().manual_seed(seed + 3)
    return [torch.randn(s, generator=g, dtype=torch.float64) for s in result_shapes]


@invariant(
    id="gradients", title="Gradients match the float64 reference",
    statement="Gradients of a random linear function of (output, h_n, c_n) with respect to "
    "the input, h0, c0 and every trainable weight equal those of the float64 LSTM equations, "
    "also when some or all weights are frozen (requires_grad=False): the input and state "
    "still get theirs.",
    expression="d/d(x, h0, c0, W) of sum(o*R1) + sum(h_n*R2) + sum(c_n*R3) == the oracle's "
    "(torch.autograd through spec.oracle in float64), within spec.tolerance.gradient; weights "
    "are read from named_parameters() under nn.LSTM's names, so a module that names them "
    "otherwise has its input and state gradients checked only",
    requires=("autograd",), cases=dict(initial_state=True, max_seq_len=6, grad_modes=("grad",)),
    catches=("truncated backpropagation (detached state between steps)",
             "the input's gradient lost when the weights are frozen (pytorch#7722)"),
)
def gradients(subject: Subject, case: Case) -> None:
    compare_gradients(subject, case, check="gradient")


def compare_gradients(subject: Subject, case: Case, *, check: str,
                      forward_check: str | None = None) -> None:
    """The gradients of one call of ``subject`` on ``case`` against the float64 oracle's
    (``gradients_and_oracle``), within the gradient tolerance; layer 0's input weights
    within the one that grows with the input's largest |x|."""
    within = tolerance.gradient(case.dtype, case.magnitude, case.seq_len)
    input_max = float(case.x.abs().max()) if case.x.numel() else 0.0
    of_input_weights = tolerance.input_weight_gradient(within, input_max)
    for name, g, e in gradients_and_oracle(subject, case, forward_check=forward_check):
        assert_close(g, e, f"d loss / d {name} vs the float64 reference",
                     of_input_weights if name.startswith("weight_ih_l0") else within,
                     check=check)


def gradients_and_oracle(subject: Subject, case: Case, *, forward_check: str | None = None
                         ) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(name, got, expected)`` for the gradients of one call of ``subject`` on ``case``
    and the float64 oracle's, of a random linear loss: input, h0, c0 and every parameter
    under nn.LSTM's names that requires grad (zeros where a gradient is unused). With
    ``forward_check``, the results themselves are compared first (under that key), so that
    a wrong forward pass does not read as a wrong backward one."""
    module = subject.module_for(case)
    params = dict(module.named_parameters()) if hasattr(module, "named_parameters") else {}
    present = [n for n in case.weights if n in params]
    if present and len(present) < len(case.weights):
        missing = sorted(set(case.weights) - set(present))
        raise Violation(f"named_parameters() has some of nn.LSTM's names but lacks {missing}",
                        {"check": "parameter-names", "quantity": "parameters",
                         "missing": missing})
    named = [n for n in present if params[n].requires_grad]
    x = case.x.clone().requires_grad_(True)
    hx = tuple(s.clone().requires_grad_(True) for s in case.hx)
    r = subject.call(module, case, x=x, hx=hx)
    R = loss_weights([r.output.shape, r.h_n.shape, r.c_n.shape], case.weight_seed)
    loss = sum((t.double() * w).sum() for t, w in zip(r.triple, R, strict=True))
    if not loss.requires_grad:
        frozen = f" ({len(present) - len(named)} of its weights frozen)" if present else ""
        raise Violation(f"the results carry no gradient although the input and (h0, c0) "
                        f"require grad{frozen}: the module cut autograd off",
                        {"check": "gradient-lost", "quantity": "input",
                         "frozen": str(case.frozen)})
    wanted = [x, *hx, *(params[n] for n in named)]
    got = torch.autograd.grad(loss, wanted, allow_unused=True)

    ref_w = {n: w.detach().double().requires_grad_(True) for n, w in case.weights.items()}
    ref_x = case.x.detach().double().requires_grad_(True)
    ref_hx = tuple(s.detach().double().requires_grad_(True) for s in case.hx)
    lengths = case.lengths if case.form == Form.PACKED else None
    ref = lstm_forward(case.config, ref_w, ref_x, ref_hx, lengths)
    if forward_check is not None:
        compare_all(r.triple, tuple(t.detach() for t in ref), case, "vs the float64 oracle",
                    check=forward_check,
                    within=tolerance.accuracy(case.dtype, case.magnitude, case.seq_len))
    ref_loss = sum((t * w).sum() for t, w in zip(ref, R, strict=True))
    expected = torch.autograd.grad(ref_loss, [ref_x, *ref_hx, *(ref_w[n] for n in named)],
                                   allow_unused=True)
    names = ["input", "h0", "c0", *named]
    return [(name, torch.zeros_like(t) if g is None else g,
             torch.zeros_like(t, dtype=torch.float64) if e is None else e)
            for name, g, e, t in zip(names, got, expected, wanted, strict=True)]


@invariant(
    id="no-mutation", title="The caller's tensors are left alone",
    statement="Building, loading and calling the implementation changes neither the input, "
    "nor (h0, c0), nor the state_dict tensors it was given.",
    expression="x, h0, c0 and every tensor passed to load_state_dict are bitwise unchanged "
    "afterwards",
    catches=("in-place edits of the caller's input or state",),
)
def no_mutation(subject: Subject, case: Case) -> None:
    weights = {k: v.clone() for k, v in case.weights.items()}
    x = case.x.clone()
    hx = None if case.hx is None else tuple(s.clone() for s in case.hx)
    mine = case.replace(weights=weights, x=x, hx=hx)
    module = subject.module_for(mine)
    subject.call(module, mine)
    subject.call(module, mine)
    assert_equal(x, case.x, "the input after the calls vs before", OUTPUT_DIMS,
                 check="mutation")
    if hx is not None:
        assert_equal(hx[0], case.hx[0], "h0 after the calls vs before", STATE_DIMS,
                     check="mutation")
        assert_equal(hx[1], case.hx[1], "c0 after the calls vs before", STATE_DIMS,
                     check="mutation")
    for name, w in weights.items():
        assert_equal(w, case.weights[name], f"{name} given to load_state_dict, after vs before",
                     check="mutation")


@invariant(
    id="determinism", title="Same call, same answer",
    statement="In eval mode, two identical calls of one module, and one call of a second "
    "module built the same way, give bitwise equal results.",
    expression="lstm(x, hx) == lstm(x, hx) == lstm'(x, hx), bitwise",
    catches=("state leaking between calls", "non-deterministic kernels"),
)
def determinism(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    first = subject.call(module, case)
    again = subject.call(module, case)
    fresh = subject.call(subject.module_for(case), case)
    for label, other, check in (("second call", again, "determinism-repeat"),
                                ("a second module's call", fresh, "determinism-fresh")):
        compare_all(other.triple, first.triple, case, f"of the {label} vs the first call",
                    check=check, within=tolerance.EXACT)
