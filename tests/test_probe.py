"""The probe that tells an implementation that cannot run at all: it calls the simplest
case the strategy makes, found without a search."""

from lstm_conformance.implementations.torch_lstm import TorchLSTM
from lstm_conformance.session import probe_simplest
from lstm_conformance.spec.harness import Subject


def test_the_probe_calls_the_simplest_case_once():
    seen = []
    subject = Subject("torch-lstm", TorchLSTM)
    assert probe_simplest(subject, lambda case, _: seen.append(case)) is None
    assert len(seen) == 1
    case = seen[0]
    assert (case["input_size"], case["hidden_size"], case["num_layers"]) == (1, 1, 1)
    assert (case["seq_len"], case["batch"], case["dtype"]) == (1, 1, "float32")
    assert (case["layout"], case["grad_mode"], case["frozen"]) == ("dense", "grad", "none")
    assert not case["bidirectional"] and case["proj_size"] == 0 and case["dropout"] == 0.0


def test_the_probe_names_what_the_simplest_call_raised():
    class Broken(TorchLSTM):
        def forward(self, *args, **kwargs):
            raise RuntimeError("no kernel for this build")

    why = probe_simplest(Subject("broken", Broken))
    assert why == "broken(input) raised RuntimeError: no kernel for this build"
