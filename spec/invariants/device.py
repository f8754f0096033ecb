"""Chapter 12: the device contract.

Kernels for accelerators (fused CUDA or Triton kernels, ROCm/MIOpen, Apple MPS, NPUs) are
run on their device with ``--lstm-device``: every case is still made on the CPU (so seeds
and counterexamples are the same on every device), moved there, and its results brought
back for the oracle (``spec.harness``). Three things only a device can get wrong are
checked here: the results are on the input's device; inputs and a module on different
devices are refused, as nn.LSTM refuses them; and the device's answer agrees with
``torch.nn.LSTM`` on the CPU, the first thing a kernel author compares with. On the CPU
(the default device) none of them applies.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from lstm_conformance.spec.case import Case
from lstm_conformance.spec.errors import ImplementationError, Violation, qualified_name
from lstm_conformance.spec.harness import Subject, grad_mode
from lstm_conformance.spec.invariants.common import accuracy, compare_all
from lstm_conformance.spec.invariants.registry import invariant
from lstm_conformance.spec.strategies import dtype_cases
from lstm_conformance.spec.tolerance import Tolerance
from lstm_conformance.spec.vocabulary import Form


def on_a_device(subject: Subject) -> str | None:
    """Not applicable on the CPU: the device contract is about a device besides it."""
    if subject.on_cpu:
        return ("the implementation runs on the CPU (--lstm-device cpu): the device contract "
                "applies with --lstm-device naming another device")
    return None


def is_on(tensor: torch.Tensor, device: torch.device) -> bool:
    """Whether ``tensor`` lives on ``device`` (``cuda`` means any CUDA device, ``cuda:1``
    that one)."""
    return tensor.device.type == device.type and (device.index is None
                                                  or tensor.device.index == device.index)


def _returned_tensors(returned) -> dict[str, torch.Tensor]:
    """output (its data, for a PackedSequence), h_n, c_n of what a call returned, as far as
    it has the structure of an LSTM's result."""
    try:
        output, (h_n, c_n) = returned
    except (TypeError, ValueError):
        raise ImplementationError(f"returned {qualified_name(type(returned))}; expected "
                                  "(output, (h_n, c_n))", kind="returned") from None
    if isinstance(output, PackedSequence):
        output = output.data
    found = {"output": output, "h_n": h_n, "c_n": c_n}
    for name, t in found.items():
        if not isinstance(t, torch.Tensor):
            raise ImplementationError(f"returned {qualified_name(type(t))} as {name}",
                                      kind="returned")
    return found


def _placement(subject: Subject, module, case: Case, what: str) -> None:
    # Called directly, not through Subject.call: where the results are is the point here,
    # and a device's results may not be readable on the CPU at all (the meta device).
    args = subject.arguments(case)
    try:
        with grad_mode(case.grad_mode):
            returned = module(*args)
    except NotImplementedError:
        raise
    except Exception as exc:
        name = qualified_name(type(exc))
        raise ImplementationError(f"{what}: raised {name}: {exc}", kind="raised",
                                  exception=name) from exc
    for name, t in _returned_tensors(returned).items():
        if not is_on(t, subject.device):
            raise Violation(
                f"{what}: {name} is on {t.device}; the input was on {subject.device}",
                {"check": "device-placement", "tensor": name, "quantity": what,
                 "actual": str(t.device), "expected": str(subject.device)})


@invariant(
    id="device-placement", title="Results on the input's device",
    statement="On a device other than the CPU, output, h_n and c_n are on the device the "
    "input (and the module) are on, in every form, and for a batch of none too.",
    expression="o.device == h_n.device == c_n.device == x.device, for x on --lstm-device",
    precheck=on_a_device,
    catches=("a CPU fallback for some inputs whose results stay on the CPU",
             "an empty batch answered with tensors made on the default device "
             "(no device= in torch.zeros)"),
)
def device_placement(subject: Subject, case: Case) -> None:
    module = subject.module_for(case)
    _placement(subject, module, case, f"{case.form} input")
    if case.form == Form.BATCHED:
        hx = None if case.hx is None else (case.hx[0][:, :0], case.hx[1][:, :0])
        _placement(subject, module, case.replace(x=case.x[:, :0], hx=hx),
                   "a batch of 0 sequences")


#: The mismatches, as (what, which of input and state stay on the CPU).
MISMATCHES = {"input on the CPU": ("x",), "(h0, c0) on the CPU": ("hx",)}


@invariant(
    id="device-mismatch-refused", title="Inputs on another device are refused",
    statement="A module on a device other than the CPU, called with its input, or with its "
    "(h0, c0), on the CPU, raises RuntimeError as nn.LSTM does, rather than moving the "
    "tensors silently or computing with them.",
    expression="lstm_on_device(x_on_cpu) and lstm_on_device(x, hx_on_cpu) raise RuntimeError",
    cases=dict(forms=(Form.BATCHED,), initial_state=True),
    extra=lambda case: st.sampled_from(sorted(MISMATCHES)),
    precheck=on_a_device,
    decisive=lambda inv, supported: [(case, kind) for kind in sorted(MISMATCHES)
                                     for case in dtype_cases(supported, inv.draws)[:1]],
    catches=("tensors moved silently to the parameters' device, hiding a host-device copy "
             "on every call",
             "MPS results wrong where inputs and module disagree (pytorch#94754, "
             "pytorch#95118)"),
)
def device_mismatch_refused(subject: Subject, case: Case, kind: str) -> None:
    module = subject.module_for(case)
    on_device, on_cpu = subject.arguments(case), subject.arguments(case, device="cpu")
    x = (on_cpu if "x" in MISMATCHES[kind] else on_device)[0]
    hx = (on_cpu if "hx" in MISMATCHES[kind] else on_device)[1]
    try:
        with grad_mode(case.grad_mode):
            module(x, hx)
    except NotImplementedError:
        raise
    except Exception as exc:
        if not isinstance(exc, RuntimeError):
            name = qualified_name(type(exc))
            raise ImplementationError(
                f"{kind}: raised {name}: {exc}; nn.LSTM raises RuntimeError (\"Input and "
                "parameter tensors are not at the same device\")", kind="raised",
                exception=name) from exc
        return
    raise Violation(f"{kind}, module on {subject.device}: accepted without an error; nn.LSTM "
                    "raises RuntimeError (\"Input and parameter tensors are not at the same "
                    "device\", or \"Input and hidden tensors ...\")",
                    {"check": "device-mismatch-accepted", "quantity": kind,
                     "expected": "RuntimeError"})


def with_values(subject: Subject) -> str | None:
    """Not applicable on the CPU, nor on the meta device, which computes no values."""
    if subject.device.type == "meta":
        return "the meta device computes shapes and devices, no values to compare"
    return on_a_device(subject)


def _cpu_reference(case: Case):
    return Subject("torch.nn.LSTM on the CPU", nn.LSTM).run(case)


@invariant(
    id="device-matches-cpu", title="The device agrees with nn.LSTM on the CPU",
    statement="On a device other than the CPU, output, h_n and c_n equal torch.nn.LSTM's on "
    "the CPU, in the same dtype, within the sum of the two results' tolerances against the "
    "float64 equations.",
    expression="(o, h_n, c_n) on the device == torch.nn.LSTM(...)(x) on the CPU, within "
    "2 * spec.tolerance.accuracy",
    precheck=with_values,
    catches=("ROCm LSTM wrong by orders of magnitude for batches above about 100 "
             "(pytorch#177834)",
             "MPS bidirectional and packed results wrong (pytorch#94754, pytorch#95118)",
             "MPS outputs depend on the batch size after an optimizer step (pytorch#180744)",
             "cuDNN LSTM fails past 65,535 steps (pytorch#133751)"),
)
def device_matches_cpu(subject: Subject, case: Case) -> None:
    # Each side is within accuracy(case) of the float64 equations (the oracle's chapter
    # checks that for the implementation, docs/TOLERANCES.md measured it for nn.LSTM), so
    # they are within twice that of each other: no figure is invented for the device.
    one = accuracy(case)
    compare_all(subject.run(case).triple, _cpu_reference(case).triple, case,
                f"on {subject.device} vs torch.nn.LSTM on the CPU", check="device-vs-cpu",
                within=Tolerance(2 * one.atol, 2 * one.rtol))
