"""The precision policy in force: what a device may do to float32 arithmetic behind the
module's back, recorded with every run so a result can be read against it.

On CUDA, ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32``
let matrix products and cuDNN's RNN kernels round float32 inputs to TF32 (10 bits of
mantissa); ``torch.get_float32_matmul_precision()`` says the same for matrix products on
every backend (cuDNN's flag is on by default in torch, the matmul one off);
``torch.autocast`` runs eligible operations (nn.LSTM among them) in float16
or bfloat16. The suite's float32 tolerances (``spec.tolerance``) were measured with none
of these in force; docs/TOLERANCES.md says what is measured under each.
"""

from __future__ import annotations

import torch


def policy(device: str | torch.device = "cpu") -> dict:
    """The precision flags of this process, as results.json records them."""
    device = torch.device(device)
    autocast = None
    try:
        if torch.is_autocast_enabled(device.type):
            autocast = str(torch.get_autocast_dtype(device.type)).removeprefix("torch.")
    except RuntimeError:  # a device type without autocast (meta): nothing is autocast there
        pass
    return {
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "autocast": autocast,
    }


def describe(flags: dict) -> str:
    """One line for the report header."""
    tf32 = [name for name, key in (("matmul", "tf32_matmul"), ("cuDNN", "tf32_cudnn"))
            if flags.get(key)]
    return (f"TF32 {'on for ' + ' and '.join(tf32) if tf32 else 'off'}, float32 matmul "
            f"precision {flags.get('float32_matmul_precision')}, autocast "
            f"{flags.get('autocast') or 'off'}")
