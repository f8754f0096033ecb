"""Chapter 3: metamorphic relations.

Run the implementation twice, on inputs related in a known way, and the answers are
related the same way: the backward direction is the forward one on reversed time; batch
elements are independent and can be permuted; outputs depend only on the past (or, for
the backward direction, the future); a sequence can be split and its state carried; no
initial state means zeros.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from lstm_conformance.spec import tolerance
from lstm_conformance.spec.asserts import assert_close
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.harness import OUTPUT_DIMS, Subject
from lstm_conformance.spec.invariants.common import compare_all, tol
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.vocabulary import Form


@invariant(
    id="time-reversal", title="The backward direction reads time reversed",
    statement="For a bidirectional layer, the backward half of the output is a forward LSTM "
    "with the _reverse weights run on the time-reversed input, flipped back; the forward half "
    "is a forward LSTM with the forward weights.",
    expression="o[:, :, H_o:] == flip(uni_rev(flip(x)))[0], h_n[1] == uni_rev's h_n; "
    "o[:, :, :H_o] == uni_fwd(x)[0], h_n[0] == uni_fwd's h_n",
    requires=("bidirectional",),
    cases=dict(bidirectional=True, max_layers=1, forms=(Form.BATCHED,)),
    catches=("backward input not reversed (apache/tvm#15176)",
             "backward output not re-flipped (onnx/onnx#2881, tensorflow#40345)",
             "reverse uses forward weights", "bidirectional backward half wrong "
             "(NVIDIA/TensorRT#1649, Tencent/ncnn#2933, pytorch#94754)"),
)
def time_reversal(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    Ho, within = case.config.h_out, tol(case)
    fwd = subject.run(case.direction(0))
    bwd = subject.run(case.direction(1), x=case.x.flip(0))
    assert_close(r.output[:, :, :Ho], fwd.output, f"o[:, :, :{Ho}] vs forward-only run",
                 within, OUTPUT_DIMS, check="time-reversal-forward")
    assert_close(r.output[:, :, Ho:], bwd.output.flip(0),
                 f"o[:, :, {Ho}:] vs flip(reverse-weights run on flip(x))", within, OUTPUT_DIMS,
                 check="time-reversal-backward")
    for d, one in ((0, fwd), (1, bwd)):
        for name, both, alone in (("h_n", r.h_n, one.h_n), ("c_n", r.c_n, one.c_n)):
            assert_close(both[d], alone[0], f"{name}[{d}] vs its one-direction run", within,
                         ("batch", "feature"), check="time-reversal-state", name=name)


@invariant(
    id="batch-independence", title="Batch elements are independent",
    statement="Each batch element's output, h_n and c_n equal those of a run on that element "
    "alone.",
    expression="lstm(x[:, b:b+1], (h0[:, b:b+1], c0[:, b:b+1])) == (o[:, b:b+1], h_n[:, b:b+1], "
    "c_n[:, b:b+1]) for every b",
    cases=dict(forms=(Form.BATCHED,)),
    catches=("h0 reshape mixes batch and feature", "batch statistics leak across elements",
             "MPS LSTM wrong for batch > 1 (pytorch#90421)"),
)
def batch_independence(subject: Subject, case: Case) -> None:
    r = subject.run(case)
    module = subject.module_for(case)
    for b in range(case.batch):
        alone = subject.call(module, case.column(b))
        compare_all(alone.triple, (r.output[:, b:b + 1], r.h_n[:, b:b + 1], r.c_n[:, b:b + 1]),
                    case, f"of batch element {b} run alone vs in the batch",
                    check="batch-independence")


@invariant(
    id="batch-permutation", title="Permuting the batch permutes the results",
    statement="Running a permuted batch (with its initial state permuted alike) gives the same "
    "results, permuted.",
    expression="lstm(x[:, p], (h0[:, p], c0[:, p])) == (o[:, p], h_n[:, p], c_n[:, p])",
    cases=dict(forms=(Form.BATCHED, Form.PACKED)),
    extra=lambda case: st.permutations(range(case.batch)),
    catches=("packed: hx not permuted by sorted_indices (mlverse/torch#499)",
             "h0 reshape mixes batch and feature"),
)
def batch_permutation(subject: Subject, case: Case, perm) -> None:
    p = torch.tensor(perm, dtype=torch.long)
    r = subject.run(case)
    q = subject.run(case.permuted(perm))
    compare_all(q.triple, (r.output[:, p], r.h_n[:, p], r.c_n[:, p]), case,
                f"of the batch permuted by {list(perm)}", check="batch-permutation")


@invariant(
    id="causality", title="Outputs depend only on the past (forward) or the future (backward)",
    statement="A prefix of the input gives a prefix of the output; for one bidirectional "
    "layer, the forward half is prefix-invariant and the backward half suffix-invariant.",
    expression="lstm(x[:k])[0][..., :H_o] == o[:k, ..., :H_o]; bidirectional, one layer: "
    "lstm(x[k:])[0][..., H_o:] == o[k:, ..., H_o:]",
    cases=dict(min_seq_len=2, forms=(Form.BATCHED, Form.UNBATCHED)),
    extra=lambda case: st.integers(1, case.seq_len - 1),
    catches=("backward input not reversed (apache/tvm#15176)",
             "backward output not re-flipped (onnx/onnx#2881)"),
)
def causality(subject: Subject, case: Case, k: int) -> None:
    if case.config.bidirectional and case.config.num_layers > 1:
        case = case.layer(0)  # above layer 0, the backward half of the input sees the future
    r = subject.run(case)
    module = subject.module_for(case)
    Ho, within = case.config.h_out, tol(case)
    prefix = subject.call(module, case, x=case.x[:k])
    assert_close(prefix.output[..., :Ho], r.output[:k, ..., :Ho],
                 f"output[:{k}, ..., :{Ho}] of x[:{k}] vs of x", within, OUTPUT_DIMS,
                 check="causality-forward")
    if case.config.bidirectional:
        suffix = subject.call(module, case, x=case.x[k:])
        assert_close(suffix.output[..., Ho:], r.output[k:, ..., Ho:],
                     f"output[{k}:, ..., {Ho}:] of x[{k}:] vs of x", within, OUTPUT_DIMS,
                     check="causality-backward")


@invariant(
    id="state-continuation", title="Splitting a sequence and carrying (h, c) changes nothing",
    statement="Running x[:k], then x[k:] from the (h_n, c_n) it returned, gives the output of "
    "the whole sequence and its h_n, c_n (unidirectional, with or without projection).",
    expression="o1, s1 = lstm(x[:k], hx); o2, s2 = lstm(x[k:], s1): cat(o1, o2) == o, "
    "s2 == (h_n, c_n)",
    # the second call starts from the first's (h_n, c_n): an initial state, always
    requires=("initial_state",),
    cases=dict(bidirectional=False, min_seq_len=2, forms=(Form.BATCHED, Form.UNBATCHED)),
    extra=lambda case: st.integers(1, case.seq_len - 1),
    catches=("projection: the recurrence uses h[:P] instead of W_hr h",
             "c_n one step stale", "every layer starts from layer-0 h0"),
)
def state_continuation(subject: Subject, case: Case, k: int) -> None:
    r = subject.run(case)
    module = subject.module_for(case)
    first = subject.call(module, case, x=case.x[:k])
    second = subject.call(module, case, x=case.x[k:], hx=(first.h_n, first.c_n))
    compare_all((torch.cat([first.output, second.output]), second.h_n, second.c_n),
                r.triple, case, f"of x[:{k}] then x[{k}:] vs of x in one call",
                check="state-continuation")


@invariant(
    id="hx-none-is-zeros", title="No initial state means zeros",
    statement="Calling without hx is the same as passing zeros for h0 and c0, for every input "
    "form.",
    expression="lstm(x) == lstm(x, (zeros(D*nl, N, H_o), zeros(D*nl, N, H)))",
    requires=("initial_state",), cases=dict(initial_state=False),
    catches=("hx=None is not zeros (ml-explore/mlx#3249)", "state leaking between calls"),
)
def hx_none_is_zeros(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    with_zeros = subject.call(module, case, hx=case.zero_state())
    without = subject.call(module, case, hx=None)
    compare_all(without.triple, with_zeros.triple, case, "with hx=None vs with zero (h0, c0)",
                check="hx-none-is-zeros", within=tolerance.EXACT)
