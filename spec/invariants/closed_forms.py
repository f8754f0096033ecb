"""Chapter 6: closed forms and bounds.

With every weight matrix zero, each gate's pre-activation is a constant and the LSTM has a
closed form: all gates 1/2 with zero biases; a distinct constant per gate reveals the gate
order and activations. Whatever the weights, |h| <= 1 without projection and each step
adds at most 1 to |c|.
"""

from __future__ import annotations

import torch

from lstm_conformance.spec.case import Case
from lstm_conformance.spec.errors import Violation
from lstm_conformance.spec.harness import OUTPUT_DIMS, STATE_DIMS, Subject
from lstm_conformance.spec.invariants.common import accuracy, compare_all
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.vocabulary import Form


def closed_form(case: Case, gates: dict[int, tuple[float, float, float, float]]) -> tuple:
    """Output, h_n, c_n when every weight matrix is zero and row r's gate pre-activations
    are the constants ``gates[r] = (z_i, z_f, z_g, z_o)``:
    c_k = sigmoid(z_f) c_{k-1} + sigmoid(z_i) tanh(z_g), h_k = [W_hr] sigmoid(z_o) tanh(c_k),
    after k steps (the backward direction has taken T - t steps when it writes time t)."""
    c, T, Ho = case.config, case.seq_len, case.config.h_out
    D = c.num_directions
    c0 = case.hx[1].double() if case.hx is not None else case.zero_state()[1].double()
    out = torch.zeros(T, case.batch, D * Ho, dtype=torch.float64)
    h_n, c_n = [], []
    for row in range(c.state_rows):
        z_i, z_f, z_g, z_o = (torch.tensor(v, dtype=torch.float64) for v in gates[row])
        d, layer = row % D, row // D
        w_hr = (case.weights[f"weight_hr_l{layer}{c.suffixes()[d]}"].double()
                if c.proj_size else None)
        cell, hs = c0[row], []
        for _ in range(T):
            cell = torch.sigmoid(z_f) * cell + torch.sigmoid(z_i) * torch.tanh(z_g)
            h = torch.sigmoid(z_o) * torch.tanh(cell)
            hs.append(h if w_hr is None else h @ w_hr.T)
        h_n.append(hs[-1])
        c_n.append(cell)
        if row >= case.top:
            steps = hs if d == 0 else hs[::-1]
            out[:, :, d * Ho:(d + 1) * Ho] = torch.stack(steps)
    return out, torch.stack(h_n), torch.stack(c_n)


@invariant(
    id="zero-weights", title="Zero weights have a closed form",
    statement="With every weight and bias zero, each gate is sigmoid(0) = 1/2 and the "
    "candidate is 0, so the cell state halves at every step and h = tanh(c)/2 (zero with a "
    "projection).",
    expression="c_n == 2^-T c0; o[t, :, :H_o] == tanh(2^-(t+1) c0[top]) / 2 (P = 0), "
    "backward o[t, :, H_o:] == tanh(2^-(T-t) c0[top+1]) / 2",
    cases=dict(forms=(Form.BATCHED, Form.UNBATCHED)),
    catches=("forget-gate bias +1 (apache/tvm#3410)", "tanh as the output gate",
             "h = o * c without tanh"),
)
def zero_weights(subject: Subject, case: Case) -> None:
    weights = {k: v if k.startswith("weight_hr") else torch.zeros_like(v)
               for k, v in case.weights.items()}
    case = case.replace(weights=weights)
    expected = closed_form(case, {r: (0.0, 0.0, 0.0, 0.0) for r in range(case.config.state_rows)})
    compare_all(subject.run(case).triple, expected, case, "vs the zero-weight closed form",
                check="zero-weights", within=accuracy(case))


#: Per-gate constant pre-activations (z_i, z_f, z_g, z_o) of the gate probe: distinct, so
#: that any permutation of the gates, or a wrong activation on any one, changes the result.
PROBE_GATES = (0.7, -1.3, 1.9, -0.4)


@invariant(
    id="gate-probe", title="Gate order and activations, probed",
    statement="With zero weight matrices and a distinct constant pre-activation per gate (bias "
    "split between b_ih and b_hh; without bias, layer 0 reads feature 0 held at 1), the states "
    "follow the closed form for the gate order i, f, g, o with sigmoid, sigmoid, tanh, "
    "sigmoid.",
    expression="c_k == sigmoid(z_f) c_{k-1} + sigmoid(z_i) tanh(z_g); h_k == [W_hr] "
    "sigmoid(z_o) tanh(c_k)",
    cases=dict(forms=(Form.BATCHED, Form.UNBATCHED)),
    catches=("i and f swapped / f and g swapped (NX-AI/xlstm#98)",
             "ONNX i,o,f,c read as i,f,g,o (CrispStrobe/CrispASR#106)",
             "forget-gate bias +1 (apache/tvm#3410)", "bias_hh dropped (google/flax#3746)",
             "tanh as the output gate"),
)
def gate_probe(subject: Subject, case: Case) -> None:
    c, H = case.config, case.config.hidden_size
    weights = {k: (v if k.startswith("weight_hr") else torch.zeros_like(v))
               for k, v in case.weights.items()}
    gates = {}
    for row in range(c.state_rows):
        layer, suffix = row // c.num_directions, c.suffixes()[row % c.num_directions]
        z = torch.tensor(PROBE_GATES, dtype=torch.float64) * (1 + 0.25 * row)
        column = z.repeat_interleave(H).to(case.dtype)
        if c.bias:
            weights[f"bias_ih_l{layer}{suffix}"] = (0.25 * column).to(case.dtype)
            weights[f"bias_hh_l{layer}{suffix}"] = column - (0.25 * column).to(case.dtype)
            gates[row] = tuple(z.to(case.dtype).double().tolist())
        elif layer == 0:
            weights[f"weight_ih_l0{suffix}"][:, 0] = column
            gates[row] = tuple(z.to(case.dtype).double().tolist())
        else:
            gates[row] = (0.0, 0.0, 0.0, 0.0)  # upper layers without bias see z = 0
    x = case.x.clone()
    if not c.bias:
        x[..., 0] = 1.0
    probe = case.replace(weights=weights, x=x)
    compare_all(subject.run(probe).triple, closed_form(probe, gates), probe,
                "vs the gate-probe closed form", check="gate-probe", within=accuracy(probe))


@invariant(
    id="bounds", title="h and c stay in their bounds",
    statement="Without projection every |h| <= 1; with projection |h| <= the L1 norm of its "
    "W_hr row; each step adds at most 1 to |c|.",
    expression="|o|, |h_n| <= 1 (P = 0) or <= sum_j |W_hr[i, j]| (P > 0); |c_n| <= |c0| + T",
    cases=dict(forms=(Form.BATCHED, Form.UNBATCHED), input_scales=("saturating", "unit"),
               weight_scales=("large", "normal")),
    catches=("h = o * c without tanh", "every layer starts from layer-0 h0"),
)
def bounds(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    c, Ho = case.config, case.config.h_out
    eps = torch.finfo(case.dtype).eps
    c0 = case.hx[1].double().abs() if case.hx is not None else case.zero_state()[1].double()
    slack = 1 + 4 * c.hidden_size * eps  # rounding of a sum of hidden_size terms
    checks = [("c_n", r.c_n, (c0 + case.seq_len) * slack, STATE_DIMS)]
    for row in range(c.state_rows):
        layer, d = row // c.num_directions, row % c.num_directions
        bound = torch.ones(Ho, dtype=torch.float64)
        if c.proj_size:
            w_hr = case.weights[f"weight_hr_l{layer}{c.suffixes()[d]}"].double()
            bound = w_hr.abs().sum(1) * slack
        checks.append((f"h_n[{row}]", r.h_n[row], bound.expand_as(r.h_n[row]),
                       ("batch", "feature")))
        if row >= case.top:
            half = r.output[..., d * Ho:(d + 1) * Ho]
            checks.append((f"output[..., {d * Ho}:{(d + 1) * Ho}]", half, bound.expand_as(half),
                           OUTPUT_DIMS))
    for what, t, bound, dims in checks:
        over = t.detach().double().abs() - bound
        if (over > 0).any():
            index = [int(i) for i in (over == over.max()).nonzero()[0]]
            value = float(t.detach()[tuple(index)])
            raise Violation(
                f"|{what}| exceeds its bound: {value:.6g} at "
                f"{', '.join(f'{n}={i}' for n, i in zip(dims, index, strict=True))}, bound "
                f"{float(bound[tuple(index)]):.6g}",
                {"check": "bound-c" if what == "c_n" else "bound-h", "quantity": what,
                 "index": index, "actual": value, "bound": float(bound[tuple(index)])})
