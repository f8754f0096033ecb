"""Chapter 13: production sizes (the ``stress`` profile).

The bugs of accelerator kernels in the last years live at sizes no other chapter draws:
ROCm's LSTM wrong by orders of magnitude for batches above about 100 and crashing above
500 (pytorch#177834), cuDNN's failing past 65,535 time steps (pytorch#133751), kernels
changing paths for hidden sizes in the thousands. Each check here pushes one dimension
through ``spec.strategies.STRESS_SIZES`` with the others small, against the float64
oracle; shrinking walks that dimension down the list, so a failure reads as "fails from
batch 513". They take minutes, so only ``--lstm-profile stress`` runs them (and it runs
nothing else); each also checks its largest size in every form (the decisive case).

The time of each check is given in its docstring: measured for torch-lstm with one torch
thread on a shared 2-core machine (docs/PERFORMANCE.md, "The stress profile"); an
implementation written in Python per time step (cell-loop) takes longer at 65,537 steps.
"""

from __future__ import annotations

from lstm_conformance.spec.case import Case
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants.common import accuracy, compare_all, oracle
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.strategies import boundary_cases

#: What every stress check draws besides its large dimension: float32 (the dtype production
#: runs in), one layer (the large dimension is what is checked; layers are block-boundaries'
#: and the lifecycle's), nn.LSTM's own weight scale and unit inputs.
STRESS_DRAWS = dict(large=True, large_sizes="stress", max_layers=1, dtypes=("float32",),
                    weight_scales=("normal",), input_scales=("unit",))


def at_largest_size(inv, supported: frozenset[str]) -> list[Case]:
    """The largest size of the check's dimension, in every form, with a bias and an
    initial state where supported (``spec.strategies.boundary_cases``)."""
    return boundary_cases(supported, inv.draws)


def _against_oracle(subject: Subject, case: Case) -> None:
    compare_all(subject.run(case).triple, oracle(case), case,
                "vs the float64 oracle at a production size", check="oracle-at-production-size",
                within=accuracy(case))


@invariant(
    id="stress-batch", title="Batches in the hundreds and past a thousand",
    statement="With a batch of 129 to 2049 sequences and the other sizes small, output, h_n "
    "and c_n equal the float64 LSTM equations on every input form.",
    expression="(o, h_n, c_n) == spec.oracle.lstm_forward(...) within spec.tolerance.accuracy, "
    "for batch in spec.strategies.STRESS_SIZES['batch']",
    cases=dict(STRESS_DRAWS, large_dims=("batch",)),
    catches=("ROCm LSTM wrong by orders of magnitude for batches above about 100, a crash "
             "above 500 (pytorch#177834)",
             "MPS outputs depend on the batch size (pytorch#180744)"),
    decisive=at_largest_size, stress=True,
)
def stress_batch(subject: Subject, case: Case) -> None:
    """About 8 s for torch-lstm (the oracle: milliseconds per case, batch 2049 included)."""
    _against_oracle(subject, case)


@invariant(
    id="stress-hidden-size", title="Hidden sizes past a thousand",
    statement="With hidden_size 257 to 1025 and the other sizes small, output, h_n and c_n "
    "equal the float64 LSTM equations on every input form.",
    expression="(o, h_n, c_n) == spec.oracle.lstm_forward(...) within spec.tolerance.accuracy, "
    "for hidden_size in spec.strategies.STRESS_SIZES['hidden_size']",
    cases=dict(STRESS_DRAWS, large_dims=("hidden_size",)),
    catches=("kernels that change paths for hidden sizes past 1024 (register or shared "
             "memory limits)",),
    decisive=at_largest_size, stress=True,
)
def stress_hidden_size(subject: Subject, case: Case) -> None:
    """About 6 s for torch-lstm (the oracle: about 0.03 s per direction at 1025 units)."""
    _against_oracle(subject, case)


@invariant(
    id="stress-seq-len", title="Sequences past 65,536 steps",
    statement="With 4097 to 65,537 time steps and the other sizes small, output, h_n and c_n "
    "equal the float64 LSTM equations on every input form.",
    expression="(o, h_n, c_n) == spec.oracle.lstm_forward(...) within spec.tolerance.accuracy, "
    "for seq_len in spec.strategies.STRESS_SIZES['seq_len']",
    cases=dict(STRESS_DRAWS, large_dims=("seq_len",)),
    catches=("cuDNN LSTM fails past 65,535 steps (pytorch#133751)",
             "a step counter of 16 bits wrapping at 65,536"),
    decisive=at_largest_size, stress=True,
)
def stress_seq_len(subject: Subject, case: Case) -> None:
    """About 3 minutes for torch-lstm (the oracle: about 1.2 s per direction of a
    65,537-step case, which is most of it; each case runs both directions)."""
    _against_oracle(subject, case)
