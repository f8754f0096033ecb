"""Chapter 2: layout, and agreement with the float64 oracle.

batch_first changes only the layout of input and output; on every input form the answers
equal the LSTM equations computed in float64 (``spec.oracle``); and c_n is the cell state
that produced h_n.
"""

from __future__ import annotations

import torch

from lstm_conformance.spec.asserts import assert_close
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants.common import accuracy, compare_all, oracle
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.vocabulary import Form


@invariant(
    id="batch-first", title="batch_first is only a layout",
    statement="batch_first=True on x equals batch_first=False on x.transpose(0, 1): the output "
    "is transposed back, h_n and c_n are identical (never batch-first).",
    expression="lstm_bf(x.transpose(0, 1))[0].transpose(0, 1) == lstm(x)[0]; h_n, c_n equal",
    requires=("batch_first",), cases=dict(batch_first=True, forms=(Form.BATCHED,)),
    catches=("batch_first ignored (pytorch#80306)", "h_n batch-first (pytorch#19675)",
             "hx read as a batch-first buffer", "onnx layout=1 differs (onnx/onnx#5218)"),
)
def batch_first(subject: Subject, case: Case) -> None:
    bf = subject.run(case)
    seq_first = subject.run(case.replace(config=case.config.replace(batch_first=False)))
    compare_all(bf.triple, seq_first.triple, case, "(batch_first) vs the seq-first run",
                check="batch-first")


@invariant(
    id="matches-oracle", title="Agrees with the float64 oracle",
    statement="On every input form (dense, batch_first, unbatched, packed with unsorted "
    "lengths), with and without (h0, c0), output, h_n and c_n equal the float64 LSTM "
    "equations.",
    expression="(o, h_n, c_n) == spec.oracle.lstm_forward(config, weights, x, hx, lengths) "
    "within spec.tolerance.forward",
    catches=("gate order (NX-AI/xlstm#98, CrispStrobe/CrispASR#106)",
             "single merged bias (google/flax#3746)", "precision loss"),
)
def matches_oracle(subject: Subject, case: Case) -> None:
    compare_all(subject.run(case).triple, oracle(case), case, "vs the float64 oracle",
                check="oracle", within=accuracy(case))


@invariant(
    id="cell-state-consistency", title="c_n agrees with h_n",
    statement="For one layer, h_n is the output gate at the last step times tanh(c_n), "
    "projected: c_n is the cell state that produced h_n.",
    expression="h_n[d] == [W_hr] (sigmoid(z_o) * tanh(c_n[d])), z_o = W_ih[o] x_t + W_hh[o] "
    "h_prev + b[o] at the direction's last step (t = T-1 forward, t = 0 backward)",
    cases=dict(max_layers=1, forms=(Form.BATCHED, Form.UNBATCHED)),
    catches=("c_n one step stale / c_n == h_n (salesforce/decaNLP#9)",
             "gate order (CrispStrobe/CrispASR#106)", "bias_hh dropped (google/flax#3746)"),
)
def cell_state_consistency(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    c, H, Ho, T = case.config, case.config.hidden_size, case.config.h_out, case.seq_len
    w = {k: v.double() for k, v in case.weights.items()}
    x = case.x.double()
    for d, suffix in enumerate(c.suffixes()):
        t, prev_t = (T - 1, T - 2) if d == 0 else (0, 1)
        half = slice(d * Ho, (d + 1) * Ho)
        if 0 <= prev_t < T:
            h_prev = r.output[prev_t, :, half].double()
        elif case.hx is not None:
            h_prev = case.hx[0][d].double()
        else:
            h_prev = torch.zeros(case.batch, Ho, dtype=torch.float64)
        rows = slice(3 * H, 4 * H)
        z_o = (x[t] @ w[f"weight_ih_l0{suffix}"][rows].T
               + h_prev @ w[f"weight_hh_l0{suffix}"][rows].T)
        if c.bias:
            z_o = z_o + w[f"bias_ih_l0{suffix}"][rows] + w[f"bias_hh_l0{suffix}"][rows]
        h = torch.sigmoid(z_o) * torch.tanh(r.c_n[d].double())
        if c.proj_size:
            h = h @ w[f"weight_hr_l0{suffix}"].T
        assert_close(r.h_n[d], h, f"h_n[{d}] vs sigmoid(z_o) * tanh(c_n[{d}])", accuracy(case),
                     ("batch", "feature"), check="cell-state")
