"""Declarative validation of constructor parameters.

Each parameter maps to a tuple of accepted kinds; a value passes if any kind
accepts it, otherwise the error names the parameter, what was expected and what
was given.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


class Kind:
    def accepts(self, value: object) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Integer(Kind):
    low: int | None = None

    def accepts(self, value: object) -> bool:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return ok and (self.low is None or value >= self.low)

    def describe(self) -> str:
        return "an int" + ("" if self.low is None else f" >= {self.low}")


@dataclass(frozen=True)
class Real(Kind):
    low: float = 0.0

    def accepts(self, value: object) -> bool:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return ok and np.isfinite(value) and value >= self.low

    def describe(self) -> str:
        return f"a finite float >= {self.low:g}"


@dataclass(frozen=True)
class Options(Kind):
    options: tuple[str, ...]

    def accepts(self, value: object) -> bool:
        return isinstance(value, str) and value in self.options

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class Boolean(Kind):
    def accepts(self, value: object) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "a bool"


@dataclass(frozen=True)
class NoneValue(Kind):
    def accepts(self, value: object) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"


@dataclass(frozen=True)
class Probabilities(Kind):
    """A sequence of ``size`` non-negative numbers summing to 1."""

    size: int

    def accepts(self, value: object) -> bool:
        try:
            p = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return False
        return (p.shape == (self.size,) and bool(np.all(np.isfinite(p)))
                and bool(np.all(p >= 0)) and abs(p.sum() - 1.0) < 1e-8)

    def describe(self) -> str:
        return f"{self.size} non-negative probabilities summing to 1"


@dataclass(frozen=True)
class PositivePair(Kind):
    def accepts(self, value: object) -> bool:
        try:
            p = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return False
        return p.shape == (2,) and bool(np.all(np.isfinite(p))) and bool(np.all(p > 0))

    def describe(self) -> str:
        return "a pair of positive floats"


@dataclass(frozen=True)
class ArrayLike(Kind):
    def accepts(self, value: object) -> bool:
        return hasattr(value, "__len__") and not isinstance(value, str)

    def describe(self) -> str:
        return "an array-like"


@dataclass(frozen=True)
class RandomState(Kind):
    def accepts(self, value: object) -> bool:
        return value is None or isinstance(
            value, (numbers.Integral, np.random.RandomState, np.random.Generator)
        ) and not isinstance(value, bool)

    def describe(self) -> str:
        return "None, an int, a numpy RandomState or Generator"


def validate_params(owner: str, params: Mapping[str, object], spec: Mapping[str, tuple]) -> None:
    """Raise if a parameter in ``params`` is accepted by none of its kinds in ``spec``.

    Raises
    ------
    TypeError
        When the value is of a type no kind takes (e.g. a string for an int).
    ValueError
        When the type fits but the value is out of range.
    """
    for name, kinds in spec.items():
        value = params[name]
        if any(kind.accepts(value) for kind in kinds):
            continue
        expected = " or ".join(kind.describe() for kind in kinds)
        numeric = isinstance(value, (numbers.Number, list, tuple, np.ndarray))
        wants_number = any(isinstance(k, (Integer, Real, Probabilities, PositivePair)) for k in kinds)
        error = ValueError if (numeric and wants_number) or isinstance(value, str) else TypeError
        raise error(f"The {name!r} parameter of {owner} must be {expected}; got {value!r}.")
