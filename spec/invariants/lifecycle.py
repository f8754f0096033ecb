"""Chapter 10: the lifecycle of one module.

One module of the implementation and one nn.LSTM live through a drawn sequence of
operations (calls of varying shape and form, train/eval switches, new weights, backward
passes and optimizer steps, dtype moves) and agree after every call. The machine is
``spec.stateful.lifecycle_machine``; a failure is the shortest sequence that shows it.
"""

from __future__ import annotations

from lstm_conformance.spec.invariants.registry import state_machine
from lstm_conformance.spec.stateful import lifecycle_machine, tours

state_machine(
    id="lifecycle", title="One module, many calls: caches, modes and weight updates",
    statement="One module, called again and again with other sequence lengths, batch sizes "
    "and input forms, with grad, under no_grad and under inference_mode, switched between "
    "train() and eval(), given new weights by load_state_dict or by optimizer steps after "
    "backward(), moved to float64 and back, and on a device (--lstm-device) to the CPU and "
    "back, answers every call as a fresh nn.LSTM with "
    "the same weights and mode would. Every run also plays each such transition once "
    "(spec.stateful.tours).",
    expression="for every drawn sequence of operations: after each call, (o, h_n, c_n) == "
    "nn.LSTM's with the current weights and mode (in training with dropout: the dropout "
    "invariants); parameter gradients == nn.LSTM's",
    machine=lifecycle_machine,
    catches=("cached graph keeps its training mode (pytorch#173640)",
             "eval output depends on batch size after an optimizer step (pytorch#180744)",
             "weights prepacked once and never refreshed",
             "a cache keyed on batch size or sequence length going stale",
             "a tensor cached under inference_mode breaks the next training call "
             "(open-mmlab/mmsegmentation#3499)"),
    decisive=tours,
)
