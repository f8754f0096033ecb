"""Chapter 9: sizes where kernels change paths.

Kernels work in tiles and chunks (warps of 32, tiles of 16 to 128, time chunks), and
their bugs sit at the boundaries: the last partial tile of hidden units or input
features, a time-chunk boundary, a batch split. Every other chapter draws tiny sizes so
that counterexamples stay small; this one pushes one dimension at a time just past a
block boundary (``spec.strategies.BOUNDARY_SIZES``) and asks for the oracle's answer
there. Shrinking walks the large dimension down the list, so a failure reads as "fails
from hidden_size 33". Random draws reach the largest sizes with a bias, an initial state
and every form only now and then, so every run (at the default profile and above) also
checks those decisive cases explicitly (``at_largest_sizes``).
"""

from __future__ import annotations

from lstm_conformance.spec.case import Case
from lstm_conformance.spec.harness import Subject
from lstm_conformance.spec.invariants.common import accuracy, compare_all, oracle
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.strategies import boundary_cases


def at_largest_sizes(inv, supported: frozenset[str]) -> list[Case]:
    """The decisive cases of a check past block sizes: each dimension at its largest
    boundary size, in every form, with a bias, an initial state and two bidirectional
    layers where supported (``spec.strategies.boundary_cases``)."""
    return boundary_cases(supported, inv.draws)


@invariant(
    id="block-boundaries", title="Past block sizes, still the oracle's answer",
    statement="With one of hidden_size, input_size (9 to 129), the sequence length (17 to "
    "257) or the batch (17 to 129) just past a power of two, and the others small, output, "
    "h_n and c_n equal the float64 LSTM equations on every input form.",
    expression="(o, h_n, c_n) == spec.oracle.lstm_forward(...) within spec.tolerance.forward, "
    "for sizes in spec.strategies.BOUNDARY_SIZES",
    # Full precision and weights that matter: at these sizes half precision's tolerance,
    # or weights of 1e-3, would hide a dropped tile.
    cases=dict(large=True, max_layers=2, dtypes=("float32", "float64"),
               weight_scales=("normal", "large")),
    catches=("cuDNN LSTM fails past 65,535 steps (pytorch#133751)",
             "wrong only when input_size > hidden_size (allenai/allennlp#356)",
             "a partial last tile of hidden units or input features dropped",
             "state not carried across a time-chunk boundary"),
    decisive=at_largest_sizes,
)
def block_boundaries(subject: Subject, case: Case) -> None:
    compare_all(subject.run(case).triple, oracle(case), case,
                "vs the float64 oracle past a block boundary", check="oracle-at-scale",
                within=accuracy(case))
