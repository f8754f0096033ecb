"""Chapter 5: training mode and dropout.

Dropout acts only between layers and only in training: eval mode with dropout > 0 is
exactly dropout = 0, and in training the last layer, layer 0's state and a one-layer
LSTM are untouched by it.
"""

from __future__ import annotations

import torch

from lstm_conformance.spec import tolerance
from lstm_conformance.spec.asserts import assert_close, assert_equal
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.harness import OUTPUT_DIMS, STATE_DIMS, Subject
from lstm_conformance.spec.invariants.common import compare_all, tol
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.vocabulary import Form


@invariant(
    id="dropout-eval", title="Dropout is off in eval mode",
    statement="In eval mode, dropout > 0 gives exactly the results of dropout = 0.",
    expression="lstm(p=0.5).eval()(x) == lstm(p=0).eval()(x)",
    cases=dict(min_layers=2, dropout=True),
    catches=("dropout active in eval (pytorch#180744, pytorch#173640)",),
)
def dropout_eval(subject: Subject, case: Case) -> None:
    with_dropout = subject.run(case)
    without = subject.run(case.replace(config=case.config.replace(dropout=0.0)))
    compare_all(with_dropout.triple, without.triple, case,
                f"in eval with dropout={case.config.dropout} vs dropout=0", check="dropout-eval",
                within=tolerance.EXACT)


@invariant(
    id="dropout-train-structure", title="Dropout only between layers",
    statement="In training, dropout acts only on the inputs of layers 1..L-1: the last "
    "layer's output still ends in h_n, layer 0's h_n and c_n are those of eval mode, one layer "
    "is unaffected, and with p = 1 the top layer runs on zeros.",
    expression="train: h_n[top] == o[T-1, :, :H_o]; h_n[top+1] == o[0, :, H_o:]; h_n[:D], "
    "c_n[:D] == eval's; num_layers = 1: train == eval; p = 1: o == top layer alone on zeros",
    requires=("dropout",), cases=dict(training=True, dropout=True, forms=(Form.BATCHED,)),
    catches=("dropout after the last layer (or with one layer)", "dropout on h_n / c_n"),
)
def dropout_train_structure(subject: Subject, case: Case) -> None:
    c = case.config
    D, top, Ho = c.num_directions, case.top, c.h_out
    r = subject.run(case)
    evald = subject.run(case.replace(training=False))
    if c.num_layers == 1:
        compare_all(r.triple, evald.triple, case,
                    "in training vs eval (one layer: no dropout applies)",
                    check="dropout-one-layer", within=tolerance.EXACT)
        return
    assert_equal(r.h_n[top], r.output[-1, :, :Ho], f"h_n[{top}] vs o[T-1, :, :{Ho}] in training",
                 ("batch", "feature"), check="dropout-last-layer")
    if c.bidirectional:
        assert_equal(r.h_n[top + 1], r.output[0, :, Ho:],
                     f"h_n[{top + 1}] vs o[0, :, {Ho}:] in training", ("batch", "feature"),
                     check="dropout-last-layer")
    assert_equal(r.h_n[:D], evald.h_n[:D], f"layer 0's h_n[:{D}] in training vs eval",
                 STATE_DIMS, check="dropout-first-layer")
    assert_equal(r.c_n[:D], evald.c_n[:D], f"layer 0's c_n[:{D}] in training vs eval",
                 STATE_DIMS, check="dropout-first-layer")
    if c.dropout == 1.0:
        last = case.layer(c.num_layers - 1)
        zeros = torch.zeros(case.seq_len, case.batch, last.config.input_size, dtype=case.dtype)
        alone = subject.run(last, x=zeros)
        assert_close(r.output, alone.output, "output with p=1 vs the top layer run on zeros",
                     tol(case), OUTPUT_DIMS, check="dropout-p1")
