"""``LSTMConfig``: the constructor arguments of ``nn.LSTM`` as a value.

A config is validated on construction with ``nn.LSTM``'s own rules, so a strategy
can never draw a configuration that ``nn.LSTM`` itself would refuse.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class LSTMConfig:
    """The keywords of ``nn.LSTM(...)``; ``device`` and ``dtype`` belong to the case."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0

    def __post_init__(self) -> None:
        for name in ("input_size", "hidden_size", "num_layers", "proj_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an int, got {value!r}")
        for name in ("input_size", "hidden_size", "num_layers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be greater than zero, got {getattr(self, name)}")
        if self.proj_size < 0:
            raise ValueError(
                f"proj_size must be >= 0 (0 disables projection), got {self.proj_size}")
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size, got proj_size={self.proj_size} "
                f"and hidden_size={self.hidden_size}"
            )
        for name in ("bias", "batch_first", "bidirectional"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not 0.0 <= self.dropout <= 1.0
        ):
            raise ValueError(f"dropout must be a number in [0, 1], got {self.dropout!r}")

    @property
    def num_directions(self) -> int:
        """D: 2 if bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        """H_out: proj_size if proj_size > 0, else hidden_size."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def state_rows(self) -> int:
        """First dimension of h_n and c_n: num_layers * D, layer-major."""
        return self.num_layers * self.num_directions

    def kwargs(self) -> dict:
        """The constructor keywords, exactly as ``nn.LSTM`` takes them."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> LSTMConfig:
        return dataclasses.replace(self, **changes)

    def suffixes(self) -> list[str]:
        """Direction suffixes of parameter names: ``""`` and, if bidirectional, ``"_reverse"``."""
        return ["", "_reverse"][: self.num_directions]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, in ``nn.LSTM``'s registration order."""
        H, P, D = self.hidden_size, self.proj_size, self.num_directions
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else D * self.h_out
            for s in self.suffixes():
                shapes[f"weight_ih_l{layer}{s}"] = (4 * H, layer_input)
                shapes[f"weight_hh_l{layer}{s}"] = (4 * H, self.h_out)
                if self.bias:
                    shapes[f"bias_ih_l{layer}{s}"] = (4 * H,)
                    shapes[f"bias_hh_l{layer}{s}"] = (4 * H,)
                if P > 0:
                    shapes[f"weight_hr_l{layer}{s}"] = (P, H)
        return shapes
