"""Declarative validation of constructor parameters, and the size checks of
arrays validated outside scikit-learn's ``validate_data`` (torch tensors, dask
arrays).

Each parameter maps to a tuple of accepted kinds; a value passes if any kind
accepts it, otherwise the error names the parameter, what was expected and what
was given. The error is a ``ValueError`` when some kind takes the value's type
(only the value is out of range) and a ``TypeError`` when none does.
"""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np

from ._kinds import is_torch_device


def _float_vector(value: object) -> np.ndarray | None:
    """``value`` as a 1-D float array, or None if it is not a sequence of reals."""
    try:
        p = np.asarray(value)
    except (TypeError, ValueError):  # e.g. ragged nested sequences
        return None
    # dtype kinds: signed, unsigned, float (no strings, complex or objects)
    return p.astype(float) if p.ndim == 1 and p.dtype.kind in "iuf" else None


class Kind:
    def fits_type(self, value: object) -> bool:
        """Whether the value's type is one this kind takes, its range aside."""
        return self.accepts(value)

    def accepts(self, value: object) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Integer(Kind):
    low: int | None = None

    def fits_type(self, value: object) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    def accepts(self, value: object) -> bool:
        # a numbers.Integral once fits_type holds, compared as the int it is (the
        # type stubs of the numbers ABCs define no comparisons with int or float)
        return self.fits_type(value) and (self.low is None or cast(int, value) >= self.low)

    def describe(self) -> str:
        return "an int" + ("" if self.low is None else f" >= {self.low}")


@dataclass(frozen=True)
class Real(Kind):
    low: float = 0.0
    #: Whether +inf is refused (NaN always is).
    finite: bool = True
    #: Whether ``low`` itself is refused.
    strict: bool = False

    def fits_type(self, value: object) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    def accepts(self, value: object) -> bool:
        if not self.fits_type(value):
            return False
        real = cast(float, value)  # a numbers.Real, typed as the float it acts as (Integer)
        if np.isnan(real):
            return False
        above = real > self.low if self.strict else real >= self.low
        return above and (not self.finite or bool(np.isfinite(real)))

    def describe(self) -> str:
        return (("a finite float" if self.finite else "a float")
                + f" {'>' if self.strict else '>='} {self.low:g}")


@dataclass(frozen=True)
class Options(Kind):
    options: tuple[str, ...]
    #: Appended to the description, e.g. why the list is short.
    note: str = ""

    def fits_type(self, value: object) -> bool:
        return isinstance(value, str)

    def accepts(self, value: object) -> bool:
        return isinstance(value, str) and value in self.options

    def describe(self) -> str:
        if len(self.options) == 1:
            text = repr(self.options[0])
        else:
            text = "one of " + ", ".join(repr(o) for o in self.options)
        return text + (f" ({self.note})" if self.note else "")


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

    def fits_type(self, value: object) -> bool:
        return _float_vector(value) is not None

    def accepts(self, value: object) -> bool:
        p = _float_vector(value)
        return (p is not None and p.shape == (self.size,) and bool(np.all(np.isfinite(p)))
                and bool(np.all(p >= 0)) and abs(p.sum() - 1.0) < 1e-8)

    def describe(self) -> str:
        return f"{self.size} non-negative probabilities summing to 1"


@dataclass(frozen=True)
class PositivePair(Kind):
    def fits_type(self, value: object) -> bool:
        return _float_vector(value) is not None

    def accepts(self, value: object) -> bool:
        p = _float_vector(value)
        return (p is not None and p.shape == (2,) and bool(np.all(np.isfinite(p)))
                and bool(np.all(p > 0)))

    def describe(self) -> str:
        return "a pair of positive floats"


@dataclass(frozen=True)
class ArrayLike(Kind):
    def accepts(self, value: object) -> bool:
        # array API arrays (array_api_strict, CUDA tensors) need not have __len__
        return ((hasattr(value, "__len__") or hasattr(value, "__array_namespace__")
                 or hasattr(value, "shape")) and not isinstance(value, str))

    def describe(self) -> str:
        return "an array-like"


@dataclass(frozen=True)
class RandomState(Kind):
    def fits_type(self, value: object) -> bool:
        return value is None or isinstance(
            value, (numbers.Integral, np.random.RandomState, np.random.Generator)
        ) and not isinstance(value, bool)

    def accepts(self, value: object) -> bool:
        # an int seeds both numpy.random.default_rng and RandomState, which
        # takes only [0, 2**32)
        if isinstance(value, numbers.Integral):
            return self.fits_type(value) and 0 <= cast(int, value) < 2**32  # see Integer
        return self.fits_type(value)

    def describe(self) -> str:
        return "None, an int in [0, 2**32), a numpy RandomState or Generator"


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
        error = ValueError if any(kind.fits_type(value) for kind in kinds) else TypeError
        raise error(f"The {name!r} parameter of {owner} must be {expected}; got {value!r}.")


@dataclass(frozen=True)
class PathLike(Kind):
    def accepts(self, value: object) -> bool:
        return isinstance(value, (str, os.PathLike))

    def describe(self) -> str:
        return "a path (str or os.PathLike)"


@dataclass(frozen=True)
class CallableKind(Kind):
    def accepts(self, value: object) -> bool:
        return callable(value)

    def describe(self) -> str:
        return "a callable"


@dataclass(frozen=True)
class Device(Kind):
    """Where a fit runs: "auto", "cpu", "cuda", "cuda:N" or a ``torch.device``."""

    def fits_type(self, value: object) -> bool:
        return isinstance(value, str) or is_torch_device(value)

    def accepts(self, value: object) -> bool:
        if is_torch_device(value):
            return True
        return isinstance(value, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", value) is not None

    def describe(self) -> str:
        return "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device"


def check_sizes(shape: tuple, reset: bool) -> None:
    """Raise scikit-learn's errors for too few samples (2 to fit, 1 to
    predict) or no features, for an array of ``shape`` (N, D)."""
    N, D = shape
    minimum = 2 if reset else 1
    if N < minimum:
        raise ValueError(f"Found array with {N} sample(s) (shape={tuple(shape)}) while a "
                         f"minimum of {minimum} is required.")
    if D < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={tuple(shape)}) while a "
                         "minimum of 1 is required.")
