"""Validation of generator parameters.

Every public component validates its parameters at construction time and raises ValueError
naming the parameter and the allowed range, so that a bad configuration fails before
elaboration with a message the user can act on.
"""

import numbers
from dataclasses import dataclass

__all__ = ["check_int", "check_pow2", "check_choice", "check_bool", "Range", "Choice", "OrDefault"]


def check_int(name, value, *, min=None, max=None):
    """Return ``value`` if it is an integer in [min, max] (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer{_range_text(min, max)}, got {value!r}")
    if (min is not None and value < min) or (max is not None and value > max):
        raise ValueError(f"{name} must be an integer{_range_text(min, max)}, got {value!r}")
    return int(value)


def check_pow2(name, value, *, min, max):
    """Return ``value`` if it is a power of two in [min, max]."""
    check_int(name, value, min=min, max=max)
    if value & (value - 1):
        raise ValueError(f"{name} must be a power of two in [{min}, {max}], got {value}")
    return int(value)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices`` (compared with ==)."""
    if value not in choices:
        allowed = ", ".join(repr(getattr(c, "name", c)) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {getattr(value, 'name', value)!r}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _range_text(min, max):
    if min is not None and max is not None:
        return f" in [{min}, {max}]"
    if min is not None:
        return f" >= {min}"
    if max is not None:
        return f" <= {max}"
    return ""


@dataclass(frozen=True)
class Range:
    """The allowed values of an integer parameter: ``min`` .. ``max``, only powers of two when
    ``pow2``. A component declares its ranges once as such constants; the configuration
    (:mod:`hw.config`) validates its fields against the same objects."""
    min: int
    max: int
    pow2: bool = False

    def check(self, name, value):
        if self.pow2:
            return check_pow2(name, value, min=self.min, max=self.max)
        return check_int(name, value, min=self.min, max=self.max)


@dataclass(frozen=True)
class Choice:
    """The allowed values of a parameter that takes one of a few values."""
    values: tuple

    def check(self, name, value):
        return check_choice(name, value, self.values)


@dataclass(frozen=True)
class OrDefault:
    """A parameter that takes the values of ``inner`` (a :class:`Range` or :class:`Choice`) or
    None, which lets the component choose (for example a latency whose best value depends on
    another parameter)."""
    inner: object

    def check(self, name, value):
        if value is None:
            return None
        try:
            return self.inner.check(name, value)
        except ValueError as e:
            raise ValueError(f"{e} (or None: the component's default)") from None
