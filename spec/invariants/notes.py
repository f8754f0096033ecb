"""Chapter 1: shapes, and the notes' four observations.

The notes that the suite grew from observed, by eye, four facts about ``nn.LSTM``: what
shapes come back; that the forward h_n is the output's last step; that the backward h_n
is the output's first step (backward half); and that h_n / c_n stack the layers,
layer-major. Each is an invariant here, in the notes' order.
"""

from __future__ import annotations

import torch

from lstm_conformance.spec.asserts import assert_close, assert_equal
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.errors import Violation
from lstm_conformance.spec.harness import OUTPUT_DIMS, STATE_DIMS, Subject
from lstm_conformance.spec.invariants.common import tol
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.vocabulary import Form


@invariant(
    id="output-shapes", title="Shapes, dtype and device",
    statement="output, h_n and c_n have nn.LSTM's shapes for every input form (each case is "
    "run seq-first, batch-first, packed and unbatched), the input's dtype and device; h_n and "
    "c_n are never batch-first.",
    expression="output: (T, N, D*H_o), (N, T, D*H_o) if batch_first, (T, D*H_o) unbatched, "
    "packed .data (sum(len), D*H_o); h_n: (D*num_layers, N, H_o); c_n: (D*num_layers, N, H)",
    catches=("batch_first ignored (pytorch#80306)", "h_n batch-first (pytorch#19675)",
             "torch.compile h_n with an extra dimension (pytorch#130791)"),
)
def output_shapes(subject: Subject, case: Case) -> None:
    dense = case.replace(form=Form.BATCHED, lengths=None, enforce_sorted=False).widened()
    T, N = dense.seq_len, dense.batch
    variants = [dense]
    if "batch_first" not in subject.unsupported:
        flipped = dense.config.replace(batch_first=not dense.config.batch_first)
        variants.append(dense.replace(config=flipped))
    if "packed" not in subject.unsupported:
        lengths = tuple(T - b % T for b in range(N))  # includes T, and 1 when N >= T
        variants.append(dense.replace(form=Form.PACKED, lengths=lengths))
    if "unbatched" not in subject.unsupported:
        variants.append(dense.column(0).replace(form=Form.UNBATCHED))
    for variant in variants:
        label = str(variant.form) + (", batch_first" if variant.form == Form.BATCHED
                                     and variant.config.batch_first else "")
        try:
            result = subject.run(variant)  # the harness checks every shape of the result
        except Violation as exc:
            raise Violation(f"{label} input: {exc}", {**exc.detail, "input": label}) from exc
        raw = result.raw.data if variant.form == Form.PACKED else result.raw
        for name, t in (("output", raw), ("h_n", result.h_n), ("c_n", result.c_n)):
            if t.dtype != case.dtype or t.device != case.x.device:
                raise Violation(
                    f"{label} input: {name}: dtype {t.dtype} on {t.device}, expected "
                    f"{case.dtype} on {case.x.device} (the input's)",
                    {"check": "dtype", "tensor": name, "quantity": name, "actual": str(t.dtype),
                     "expected": str(case.dtype)})


@invariant(
    id="last-step-forward", title="Last step, forward",
    statement="The top layer's forward h_n is the output at each sequence's last time step.",
    expression="h_n[top, b] == o[len_b - 1, b, :H_o]  (len_b = T for dense input)",
    catches=("h_n direction-major", "cat(bwd, fwd) (pytorch#11368)",
             "packed: h_n taken at the padded end (microsoft/onnxruntime#1400)"),
)
def last_step_forward(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    top, Ho = case.top, case.config.h_out
    lengths = case.lengths if case.form == Form.PACKED else (case.seq_len,) * case.batch
    last = torch.stack([r.output[n - 1, b, :Ho] for b, n in enumerate(lengths)])
    assert_equal(r.h_n[top], last, f"h_n[{top}] (top layer, forward) vs o[len_b-1, b, :{Ho}]",
                 ("batch", "feature"), check="last-step-forward")


@invariant(
    id="first-step-backward", title="First step, backward",
    statement="For a bidirectional LSTM, the top layer's backward h_n is the backward half of "
    "the output at time step 0, where the backward direction ends.",
    expression="h_n[top + 1] == o[0, :, H_o:]",
    requires=("bidirectional",), cases=dict(bidirectional=True),
    catches=("backward output not re-flipped (onnx/onnx#2881)",
             "h_n from o[T-1] for both directions", "cat(bwd, fwd) (pytorch#11368)"),
)
def first_step_backward(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    top, Ho = case.top, case.config.h_out
    assert_equal(r.h_n[top + 1], r.output[0, :, Ho:],
                 f"h_n[{top + 1}] (top layer, backward) vs o[0, :, {Ho}:]", ("batch", "feature"),
                 check="first-step-backward")


@invariant(
    id="stacked-layers", title="Layers stack, layer-major",
    statement="num_layers=L equals L chained one-layer runs of the same implementation, and "
    "row k*D + d of h_n and c_n is layer k, direction d.",
    expression="o == run_{L-1}(... run_0(x)), each run_k with weights _l{k} -> _l0 and state "
    "rows [k*D:(k+1)*D]; h_n[k*D:(k+1)*D] == run_k's h_n (same for c_n)",
    requires=("multi_layer",), cases=dict(min_layers=2),
    catches=("h_n direction-major", "every layer starts from layer-0 h0",
             "bidirectional layers >= 2 ignore the backward half (pytorch#89357)"),
)
def stacked_layers(subject: Subject, case: Case) -> None:
    full = subject.run(case)
    D, x, within = case.config.num_directions, case.x, tol(case)
    for k in range(case.config.num_layers):
        r = subject.run(case.layer(k), x=x)
        rows = slice(k * D, (k + 1) * D)
        for name, whole, alone in (("h_n", full.h_n, r.h_n), ("c_n", full.c_n, r.c_n)):
            assert_close(whole[rows], alone, f"{name}[{k * D}:{(k + 1) * D}] vs layer {k} run "
                         f"alone's {name}", within, STATE_DIMS, check="stacked-layer-state",
                         name=name)
        x = r.output
    assert_close(full.output, x, "output vs the chained one-layer runs", within, OUTPUT_DIMS,
                 check="stacked-layer-output")
