"""Chapter 10: the lifecycle of one module, checked with a hypothesis state machine.

Every other chapter builds a fresh module, loads weights, sets the mode and calls it once
or twice. Real users train: call, backward, optimizer step, switch to eval, call again
with another batch size; and backends cache (prepacked weights, a graph compiled for one
shape or mode, a session built once). Bugs that live across calls show only there.

``lifecycle_machine(subject)`` makes a ``RuleBasedStateMachine`` in which one module of
the implementation and one ``torch.nn.LSTM`` live through a drawn sequence of operations:
calls of varying sequence length, batch size and input form, with and without
``(h0, c0)``, under ``no_grad`` or ``inference_mode`` (with grad where ``no_grad`` is
declared unsupported) or with grad and a backward pass;
``train()`` / ``eval()``; new weights through ``load_state_dict``; backward
passes and optimizer steps on the parameters (for modules whose ``named_parameters()``
use nn.LSTM's names); ``.to(float64)`` and back. After every call their answers must
agree under the spec's tolerance: fully in eval mode (and in training where dropout
cannot act), and where dropout acts, in what the dropout invariants check (the top
layer's h_n is its last output, layer 0's state is untouched, p = 1 is deterministic).
A failure shrinks to the shortest sequence of operations, which the violation carries as
``steps``.

Drawn programs reach a given transition only now and then (a switch from training to
eval on a module where dropout acts needs two layers, dropout, and calls on both sides),
so ``tours`` lists the decisive programs every run also plays: each transition that
changes what a module must compute, once, in the shortest program that shows it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from torch import nn

from lstm_conformance.spec import tolerance
from lstm_conformance.spec.asserts import assert_close, assert_equal
from lstm_conformance.spec.case import Case
from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.errors import ImplementationError, NotApplicable, Violation
from lstm_conformance.spec.harness import STATE_DIMS, Subject
from lstm_conformance.spec.invariants.common import accuracy, compare_all
from lstm_conformance.spec.strategies import (
    DTYPES,
    Draws,
    configs,
    make_input,
    make_state,
    make_weights,
)
from lstm_conformance.spec.vocabulary import Form

#: The draws of the machine's module: up to two layers, everything else as usual.
MACHINE_DRAWS = Draws(max_layers=2)


@contextmanager
def reference_warnings_ignored() -> Iterator[None]:
    """Around what the suite's own reference nn.LSTM does: its warnings (weights not in one
    contiguous chunk after ``.to()``, dropout with one layer) say nothing about the
    implementation under test, whose warnings the run lists."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _reference(config: LSTMConfig, weights: dict, dtype: torch.dtype) -> nn.LSTM:
    with reference_warnings_ignored():
        ref = nn.LSTM(**config.kwargs(), dtype=dtype)
        ref.load_state_dict(weights)
    return ref.eval()


def lifecycle_machine(subject: Subject) -> type[RuleBasedStateMachine]:
    """The lifecycle state machine for one implementation (see the module docstring)."""
    supported = frozenset({"multi_layer", "bidirectional", "proj_size", "no_bias",
                           "batch_first", "unbatched", "packed", "initial_state", "dropout",
                           "autograd", "float32", "float64", "no_grad"}) - subject.unsupported
    dtypes = [d for d in ("float32", "float64") if d in supported]
    forms = [Form.BATCHED] + [f for f in (Form.UNBATCHED, Form.PACKED) if f in supported]
    autograd = "autograd" in supported
    nn_lstm = Subject("torch.nn.LSTM", nn.LSTM)
    # Training mode is drawn, so dropout is drawn only where it is supported.
    draws = MACHINE_DRAWS if "dropout" in supported else Draws(max_layers=2, dropout=False)

    class Lifecycle(RuleBasedStateMachine):
        #: Hears the program so far before each operation touches the implementation (the
        #: crash watch notes it, so that a crash inside the machine has a program to replay).
        on_operation: Callable[[list], None] | None = None

        def __init__(self) -> None:
            super().__init__()
            self.steps: list[str] = []
            #: The operations as (rule, arguments), JSON-able: what ``play`` replays.
            self.program: list[tuple[str, dict]] = []
            self._announced = 0  # how much of the program on_operation has heard
            self.backwards = 0  # backward passes accumulated into .grad since the last step
            self.where = subject.device  # where the module is now (to_device moves it)

        # -- the module and its twin ------------------------------------------------------
        @initialize(config=configs(supported=supported, draws=draws),
                    dtype=st.sampled_from(dtypes), seed=st.integers(0, 2**16),
                    training=st.booleans())
        def build(self, config: LSTMConfig, dtype: str, seed: int, training: bool) -> None:
            self.program.append(("build", dict(config=config.kwargs(), dtype=dtype, seed=seed,
                                               training=training)))
            self.config, self.dtype = config, DTYPES[dtype]
            self.weights = make_weights(config, seed, 1.0, self.dtype)
            try:
                self.module = self._guard(
                    lambda: subject.build(config, self.weights, self.dtype),
                    f"build {config.kwargs()} in {dtype}")
            except NotApplicable:
                reject()  # a configuration the implementation declines
            self.ref = _reference(config, self.weights, self.dtype)
            if training:  # modules start in training mode, as nn.Module's do
                self._set_mode(True)
            self.named = self._nn_lstm_parameters()

        def _nn_lstm_parameters(self) -> dict[str, torch.Tensor]:
            """The module's parameters under nn.LSTM's names, if it has them all."""
            params = dict(self.module.named_parameters()) \
                if hasattr(self.module, "named_parameters") else {}
            return params if set(self.weights) <= set(params) else {}

        # -- operations ---------------------------------------------------------------
        @rule(seq_len=st.integers(1, 6), batch=st.integers(1, 4), form=st.sampled_from(forms),
              with_state=st.booleans() if "initial_state" in supported else st.just(False),
              backward=st.booleans() if autograd else st.just(False),
              seed=st.integers(0, 2**16),
              inference=st.booleans() if "no_grad" in supported else st.just(False))
        def call(self, seq_len: int, batch: int, form: Form, with_state: bool, backward: bool,
                 seed: int, inference: bool = False) -> None:
            self.program.append(("call", dict(seq_len=seq_len, batch=batch, form=str(form),
                                              with_state=with_state, backward=backward,
                                              seed=seed, inference=inference)))
            batch = 1 if form == Form.UNBATCHED else batch
            lengths = None
            if form == Form.PACKED:
                lengths = tuple(max(1, seq_len - (seed + b) % seq_len) for b in range(batch))
                lengths = (seq_len, *lengths[1:])
            case = Case(config=self.config, dtype=self.dtype, weights=self._ref_weights(),
                        x=make_input(self.config, seq_len, batch, seed, 1.0, self.dtype),
                        hx=make_state(self.config, batch, seed, self.dtype) if with_state
                        else None, form=form, lengths=lengths, training=self.ref.training,
                        weight_seed=seed)
            mode = "train" if self.ref.training else "eval"
            dropout_acts = (self.ref.training and self.config.dropout > 0
                            and self.config.num_layers > 1)
            backward = backward and not dropout_acts
            # A call without backward() runs without grad, unless the implementation
            # declares no_grad unsupported: then it gets grad, and no backward pass.
            grad = backward or "no_grad" not in supported
            how = ("then backward()" if backward else "with grad" if grad
                   else "inference_mode" if inference else "no_grad")
            what = (f"call({form}, seq_len={seq_len}, batch={batch}, hx={with_state}, {mode}"
                    f", {how})")
            with torch.enable_grad() if grad else \
                    torch.inference_mode() if inference else torch.no_grad():
                try:
                    got = self._guard(lambda: subject.call(self.module, case,
                                                           device=self.where), what)
                except NotApplicable:
                    reject()  # a case the implementation declines, as the invariants do
                with reference_warnings_ignored():
                    want = nn_lstm.call(self.ref, case)
            if dropout_acts and self.config.dropout < 1.0:
                self._check_dropout_structure(got, want, case, what)
            else:
                self._check(lambda: compare_all(got.triple, want.triple, case,
                                                f"after {len(self.steps)} steps: {what} vs "
                                                "nn.LSTM", check="lifecycle-call",
                                                within=accuracy(case)), what)
            if backward:
                self._backward(got, want, case, what)

        def _check_dropout_structure(self, got, want, case: Case, what: str) -> None:
            D, top, Ho = self.config.num_directions, case.top, self.config.h_out

            def structure() -> None:
                if case.form != Form.PACKED:  # packed sequences end at their own lengths
                    assert_equal(got.h_n[top], got.output[-1, :, :Ho],
                                 f"after {len(self.steps)} steps: {what}: h_n[top] vs the "
                                 "output's last step", check="lifecycle-dropout")
                for name, a, b in (("h_n", got.h_n, want.h_n), ("c_n", got.c_n, want.c_n)):
                    assert_close(a[:D], b[:D], f"after {len(self.steps)} steps: {what}: "
                                 f"layer 0's {name} (no dropout before it) vs nn.LSTM",
                                 accuracy(case), STATE_DIMS,
                                 check="lifecycle-dropout", name=name)

            self._check(structure, what)

        def _backward(self, got, want, case: Case, what: str) -> None:
            from lstm_conformance.spec.invariants.side_effects import loss_weights

            R = loss_weights([got.output.shape, got.h_n.shape, got.c_n.shape], case.weight_seed)
            for result, module in ((got, self.module), (want, self.ref)):
                loss = sum((t.double() * r).sum() for t, r in zip(result.triple, R, strict=True))
                if module is self.module:
                    self._guard(loss.backward, f"backward after {what}")
                else:
                    with reference_warnings_ignored():
                        loss.backward()
            self.backwards += 1
            if not self.named:
                return
            within = tolerance.gradient(case.dtype, case.magnitude)
            within = tolerance.Tolerance(within.atol * self.backwards, within.rtol)

            def gradients() -> None:
                for name, p in self.ref.named_parameters():
                    mine = self.named[name].grad
                    assert_close(torch.zeros_like(p) if mine is None else mine, p.grad,
                                 f"after {len(self.steps)} steps: {name}.grad after backward of "
                                 f"{what} vs nn.LSTM's", within, check="lifecycle-gradient")

            self._check(gradients, f"backward of {what}")

        @rule(training=st.booleans())
        def set_mode(self, training: bool) -> None:
            self.program.append(("set_mode", dict(training=training)))
            self._set_mode(training)

        def _set_mode(self, training: bool) -> None:
            what = "train()" if training else "eval()"
            self._guard(lambda: self.module.train(training), what)
            self.ref.train(training)
            self.steps.append(what)

        @rule(seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 3.0]))
        def load_new_weights(self, seed: int, scale: float) -> None:
            self.program.append(("load_new_weights", dict(seed=seed, scale=scale)))
            weights = make_weights(self.config, seed, scale, self.dtype)
            self._guard(lambda: self.module.load_state_dict(dict(weights)),
                        f"load_state_dict(new weights, seed {seed})")
            with reference_warnings_ignored():
                self.ref.load_state_dict(weights)
            self.steps.append(f"load_state_dict(new weights, seed {seed})")

        @precondition(lambda self: bool(self.named) and self.backwards > 0)
        @rule(lr=st.sampled_from([0.1, 0.5]))
        def optimizer_step(self, lr: float) -> None:
            """One SGD step, in place, on both modules' parameters."""
            self.program.append(("optimizer_step", dict(lr=lr)))
            with torch.no_grad():
                for name, p in self.ref.named_parameters():
                    mine = self.named[name]
                    if mine.grad is not None:
                        mine -= lr * mine.grad
                    # The twin takes the implementation's new values: the two gradients
                    # agree only to rounding, which must not build up over the steps.
                    p.copy_(mine)
            self.module.zero_grad(set_to_none=True)
            self.ref.zero_grad(set_to_none=True)
            self.backwards = 0
            self.steps.append(f"optimizer step (SGD, lr={lr})")

        @precondition(lambda self: "float64" in supported and "float32" in supported)
        @rule(dtype=st.sampled_from(["float64", "float32"]))
        def to_dtype(self, dtype: str) -> None:
            self.program.append(("to_dtype", dict(dtype=dtype)))
            self.dtype = DTYPES[dtype]
            moved = self._guard(lambda: self.module.to(self.dtype), f".to({dtype})")
            self.module = moved if moved is not None else self.module
            with reference_warnings_ignored():
                self.ref.to(self.dtype)
            self.named = self._nn_lstm_parameters()
            for module in (self.module, self.ref):
                if hasattr(module, "zero_grad"):
                    module.zero_grad(set_to_none=True)
            self.backwards = 0
            self.steps.append(f".to({dtype})")

        @precondition(lambda self: not subject.on_cpu)
        @rule(where=st.sampled_from(["cpu", "device"]))
        def to_device(self, where: str) -> None:
            """``.to("cpu")`` or back to the run's device (``--lstm-device``): the next
            calls come with their tensors there. Not drawn on the CPU, where it is no move."""
            self.program.append(("to_device", dict(where=where)))
            target = torch.device("cpu") if where == "cpu" else subject.device
            moved = self._guard(lambda: self.module.to(target), f'.to("{target}")')
            self.module = moved if moved is not None else self.module
            self.named = self._nn_lstm_parameters()
            self.where = target
            self.steps.append(f'.to("{target}")')

        # -- helpers ------------------------------------------------------------------
        def _ref_weights(self) -> dict[str, torch.Tensor]:
            return {k: v.detach().clone() for k, v in self.ref.state_dict().items()}

        def _guard(self, action, what: str):
            """Run one operation on the implementation; what it raises is an error that
            names the steps that led there."""
            if self.on_operation is not None and self._announced != len(self.program):
                self._announced = len(self.program)
                self.on_operation([list(step) for step in self.program])
            try:
                return action()
            except (Violation, ImplementationError) as exc:
                self._attach(exc, what)
                raise
            except NotApplicable:
                raise
            except Exception as exc:
                error = ImplementationError(
                    f"after {len(self.steps)} steps: {what} raised {type(exc).__name__}: {exc}",
                    kind="raised", exception=type(exc).__name__)
                self._attach(error, what)
                raise error from exc
            finally:
                if what.startswith("call("):
                    self.steps.append(what)

        def _check(self, comparison, what: str) -> None:
            try:
                comparison()
            except Violation as exc:
                self._attach(exc, what)
                raise

        def _attach(self, exc: Exception, what: str) -> None:
            """The operations so far, and the module's config, go with the failure."""
            steps = [*self.steps] if self.steps and self.steps[-1] == what else \
                [*self.steps, what]
            if isinstance(exc, Violation):
                exc.detail = {**exc.detail, "steps": steps}
            exc.lifecycle = {"steps": steps, "program": list(self.program), "case": {
                **self.config.kwargs(), "dtype": str(self.dtype).removeprefix("torch."),
                "form": what.split("(")[1].split(",")[0] if what.startswith("call(") else None}}

    Lifecycle.__name__ = Lifecycle.__qualname__ = "Lifecycle"
    return Lifecycle


def play(machine: type[RuleBasedStateMachine], program: list) -> None:
    """Run a recorded ``program`` (a lifecycle failure's ``counterexample["program"]``) on a
    fresh ``machine``, operation by operation, as hypothesis ran it: what it raised then,
    it raises again (a standalone script's way to the failure)."""
    state = machine()
    try:
        for rule, arguments in program:
            arguments = dict(arguments)
            if rule == "build":
                arguments["config"] = LSTMConfig(**arguments["config"])
            if "form" in arguments:
                arguments["form"] = Form(arguments["form"])
            getattr(state, rule)(**arguments)
    finally:
        state.teardown()


def program_features(program: list) -> frozenset[str]:
    """The capabilities (``spec.capabilities.FEATURES``) a recorded ``program`` exercises:
    its module's configuration and dtypes, and what its calls and moves used. A crash in
    the machine is searched for its condition by leaving each of them out in turn."""
    used: set[str] = set()
    config, training = None, False
    for operation, arguments in program:
        if operation == "build":
            config = arguments["config"]
            config = config if isinstance(config, LSTMConfig) else LSTMConfig(**config)
            used.add(str(arguments["dtype"]))
            training = bool(arguments.get("training"))
            used |= {"multi_layer"} if config.num_layers > 1 else set()
            used |= {"bidirectional"} if config.bidirectional else set()
            used |= {"proj_size"} if config.proj_size else set()
            used |= {"no_bias"} if not config.bias else set()
            used |= {"batch_first"} if config.batch_first else set()
        elif operation == "set_mode":
            training = bool(arguments["training"])
        elif operation == "to_dtype":
            used.add(str(arguments["dtype"]))
        elif operation == "call" and config is not None:
            form = str(arguments["form"])
            used |= {form} if form in ("unbatched", "packed") else set()
            used |= {"initial_state"} if arguments.get("with_state") else set()
            used |= {"autograd"} if arguments.get("backward") else set()
            # a call without backward() runs under no_grad or inference_mode (where
            # no_grad is supported; leaving it out runs it with grad)
            used |= {"no_grad"} if not arguments.get("backward") else set()
            if training and config.dropout > 0 and config.num_layers > 1:
                used.add("dropout")
    return frozenset(used)


def tours(invariant, supported: frozenset[str]) -> list[list[tuple[str, dict]]]:
    """The lifecycle's decisive programs, within what the implementation supports: each
    transition that changes what a module must compute, between calls on both sides of it.

    * training to eval and back on two layers where dropout acts;
    * a backward pass, then a call (gradients accumulating); a backward pass and an
      optimizer step, then a call; new weights, then a call;
    * ``.to(float64)`` and back, with calls between;
    * on a device (``--lstm-device``), ``.to("cpu")`` and back, with calls between (the
      program stops after its first call on the CPU, where the move is not drawn);
    * another batch size and sequence length, and back;
    * calls under ``no_grad`` and ``inference_mode``, then one with grad and backward().
    """
    dtype = "float32" if "float32" in supported else "float64"
    layers = 2 if "multi_layer" in supported else 1
    plain = LSTMConfig(input_size=2, hidden_size=3, num_layers=layers)

    def build(config: LSTMConfig, training: bool = False) -> tuple[str, dict]:
        return ("build", dict(config=config, dtype=dtype, seed=1, training=training))

    def call(seq_len: int = 3, batch: int = 2, backward: bool = False,
             inference: bool = False, seed: int = 2) -> tuple[str, dict]:
        return ("call", dict(seq_len=seq_len, batch=batch, form=Form.BATCHED,
                             with_state=False, backward=backward, seed=seed,
                             inference=inference))

    programs = []
    if "dropout" in supported and layers == 2:
        dropping = plain.replace(dropout=0.5)
        programs.append([build(dropping, training=True), call(), ("set_mode", {"training": False}),
                         call(), ("set_mode", {"training": True}), call(),
                         ("set_mode", {"training": False}), call()])
    if "autograd" in supported:
        programs.append([build(plain), call(backward=True), call(seed=3)])
        programs.append([build(plain), call(backward=True), ("optimizer_step", {"lr": 0.5}),
                         call()])
    programs.append([build(plain), call(), ("load_new_weights", {"seed": 3, "scale": 3.0}),
                     call()])
    if {"float32", "float64"} <= supported:
        programs.append([build(plain), call(), ("to_dtype", {"dtype": "float64"}), call(),
                         ("to_dtype", {"dtype": "float32"}), call()])
    programs.append([build(plain), call(), ("to_device", {"where": "cpu"}), call(seed=3),
                     ("to_device", {"where": "device"}), call(seed=4)])
    programs.append([build(plain), call(seq_len=3, batch=2), call(seq_len=5, batch=4, seed=3),
                     call(seq_len=3, batch=2, seed=4)])
    if "no_grad" in supported:
        programs.append([build(plain), call(), call(inference=True, seed=3)]
                        + ([call(backward=True, seed=4)] if "autograd" in supported else []))
    return programs
