"""Validation of generator parameters.

Every public component validates its parameters at construction time and raises ValueError
naming the parameter and the allowed range, so that a bad configuration fails before
elaboration with a message the user can act on.
"""

import numbers

__all__ = ["check_int", "check_choice", "check_bool"]


def check_int(name, value, *, min=None, max=None):
    """Return ``value`` if it is an integer in [min, max] (either bound may be None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer{_range_text(min, max)}, got {value!r}")
    if (min is not None and value < min) or (max is not None and value > max):
        raise ValueError(f"{name} must be an integer{_range_text(min, max)}, got {value!r}")
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
