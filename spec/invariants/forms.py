"""Chapter 4: the unbatched and packed forms of input.

2-D input is a batch of one without its batch dimension; a PackedSequence runs each
sequence at its own true length, and packing sequences of equal length changes nothing.
"""

from __future__ import annotations

import torch

from lstm_conformance.spec.asserts import assert_equal
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants.common import compare_all
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.strategies import make_state
from lstm_conformance.spec.vocabulary import Form


@invariant(
    id="unbatched-is-batch-of-one", title="2-D input is a batch of one",
    statement="Unbatched (L, I) input with 2-D (h0, c0) gives the batch-of-one results "
    "without the batch dimension.",
    expression="lstm(x[:, 0], (h0[:, 0], c0[:, 0])) == squeeze(lstm(x[:, :1], (h0, c0)), "
    "batch dim)",
    requires=("unbatched",), cases=dict(forms=(Form.UNBATCHED,)),
    catches=("unbatched input read as L sequences of length 1",),
)
def unbatched_is_batch_of_one(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    unbatched = subject.call(module, case, form=Form.UNBATCHED)
    batched = subject.call(module, case, form=Form.BATCHED)
    compare_all(unbatched.triple, batched.triple, case, "(unbatched) vs a batch of one",
                check="unbatched")


@invariant(
    id="packed-per-sequence", title="Packed sequences are run at their true lengths",
    statement="With a PackedSequence (lengths unsorted or sorted), each sequence's output "
    "equals its own run at its true length, h_n and c_n come from its true last step (the "
    "backward direction's from t = 0), and hx is read in the caller's batch order (a case "
    "without hx is run with one too).",
    expression="unpacked o[:len_b, b] == lstm(x[:len_b, b:b+1], hx[:, b:b+1])[0]; h_n[:, b], "
    "c_n[:, b] equal that run's; o[len_b:, b] == 0; for hx as drawn and, if none, a random one",
    requires=("packed",), cases=dict(forms=(Form.PACKED,)),
    catches=("h_n taken at the padded end (microsoft/onnxruntime#1400)",
             "backward direction starts in the padding",
             "hx not permuted by sorted_indices (mlverse/torch#499)",
             "MPS packed LSTM wrong for batch > 1 (pytorch#95118)"),
)
def packed_per_sequence(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    _each_sequence_alone(subject, module, case)
    if case.hx is None and "initial_state" not in subject.unsupported:
        # hx must be read in the caller's batch order, not the sorted one: check that on
        # every case, with a state made from the case's seed.
        _each_sequence_alone(subject, module, case.replace(
            hx=make_state(case.config, case.batch, case.weight_seed, case.dtype)))


def _each_sequence_alone(subject: Subject, module, case: Case) -> None:
    r = subject.call(module, case)
    for b, n in enumerate(case.lengths):
        one = case.column(b)
        alone = subject.call(module, one.replace(x=one.x[:n], form=Form.BATCHED, lengths=None),
                             form=Form.BATCHED)
        # the packed result is the one under test ("got"), the sequence run alone the
        # reference ("expected")
        compare_all((r.output[:n, b:b + 1], r.h_n[:, b:b + 1], r.c_n[:, b:b + 1]), alone.triple,
                    case, f"of sequence {b} (length {n}) packed vs run alone",
                    check="packed-per-sequence")
        assert_equal(r.output[n:, b], torch.zeros_like(r.output[n:, b]),
                     f"unpacked output[{n}:, {b}] (padding) vs zeros", ("t", "feature"),
                     check="packed-padding")


@invariant(
    id="packed-uniform-is-dense", title="Packing equal lengths changes nothing",
    statement="A PackedSequence whose sequences all have length T gives the dense run's "
    "results.",
    expression="unpack(lstm(pack(x, [T]*N))) == lstm(x)",
    requires=("packed",), cases=dict(forms=(Form.BATCHED,)),
    catches=("MPS packed LSTM wrong even with equal lengths (pytorch#95118)",),
)
def packed_uniform_is_dense(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    dense = subject.call(module, case, form=Form.BATCHED)
    packed = subject.call(module, case.replace(form=Form.PACKED), form=Form.PACKED,
                          lengths=(case.seq_len,) * case.batch)
    compare_all(packed.triple, dense.triple, case, "(packed, equal lengths) vs dense",
                check="packed-uniform")
