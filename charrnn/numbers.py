"""The one set of rules for numbers typed into a form (the app's widgets, an API call, a command line).

Every field follows them: blank (None, "", spaces) is the field's default; a value that is not a number, NaN or
infinity is refused naming the field; a fractional value where a whole number is needed is refused (never
rounded); a value out of range is refused naming the field and its range. A field may have an `off` value (0:
"automatic", "the preset's", "unlimited") accepted outside its range. Integers are kept exactly, however large.
"""
from __future__ import annotations

import math
import operator


def blank(value: object) -> bool:
    """None, or a string of nothing but spaces: a field left empty."""
    return value is None or (isinstance(value, str) and not value.strip())


def show(value: object) -> str:
    """A value for a message: short, integers with separators or their order of magnitude when huge."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) < 10**18:
            return f"{value:,}"
        return f"about {'-' if value < 0 else ''}10^{math.log10(abs(value)):.0f}"
    if isinstance(value, float):
        return f"{value:g}"
    return f"{value!r:.40}"


def _range(lo, hi, lo_open: bool, whole: bool) -> str:
    """The range part of a message: "a whole number from 8 to 4096", "at least 1", "in (0, 1]", ..."""
    if lo is not None and hi is not None:
        if lo_open:
            return f"in ({lo:g}, {hi:g}]"
        return f"a whole number from {lo} to {hi}" if whole else f"from {lo:g} to {hi:g}"
    if lo is not None:
        return f"more than {lo:g}" if lo_open else f"at least {lo}"
    return f"at most {hi}" if hi is not None else ""


def _kind(lo, hi, lo_open: bool, whole: bool) -> str:
    """What a value that is no number (or no whole one) should have been: "a whole number from 1 to 6", "a finite
    number in (0, 1]", "a whole number, at least 1", ..."""
    limits = _range(lo, hi, lo_open, whole)
    if whole and lo is not None and hi is not None:
        return limits
    kind = "a whole number" if whole else "a finite number"
    return f"{kind}{',' if lo is None or hi is None else ''} {limits}" if limits else kind


def _refuse(name: str, says: str, value: object) -> ValueError:
    return ValueError(f"{name} must be {says}, got {show(value)}")


def _as_number(name: str, value: object, kind: str) -> int | float:
    """`value` as an int (kept exact) or a finite float; ValueError naming the field and saying `kind` otherwise."""
    if isinstance(value, bool):
        raise _refuse(name, kind, value)
    try:
        return operator.index(value)  # int, NumPy integers
    except TypeError:
        pass
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        raise _refuse(name, kind, value) from None
    if not math.isfinite(f):
        raise _refuse(name, kind, value)
    return f


def _within(name: str, x: int | float, limits: tuple, says: str | None, note: str, whole: bool) -> None:
    lo, hi, lo_open = limits
    below = lo is not None and (x <= lo if lo_open else x < lo)
    if below or (hi is not None and x > hi):
        raise _refuse(name, says or _range(lo, hi, lo_open, whole) + note, x)


def whole(name: str, value: object, default: int, bounds: tuple[int | None, int | None] = (None, None), *,
          off: int | None = None, note: str = "", says: str | None = None) -> int:
    """A whole number within `bounds`, (lo, hi) inclusive (either may be None: no limit); blank gives `default`,
    `off` is accepted as it is. ValueError naming the field: "layers must be a whole number from 1 to 6, got 1.5".
    `note` is added to the range (" (0: automatic)"); `says` replaces the whole description of the values accepted.
    """
    if blank(value):
        return default
    lo, hi = bounds
    kind = says or _kind(lo, hi, False, True) + note
    x = _as_number(name, value, kind)
    if isinstance(x, float):
        if not x.is_integer():
            raise _refuse(name, kind, value)
        x = int(x)
    if off is not None and x == off:
        return x
    _within(name, x, (lo, hi, False), says, note, True)
    return x


def number(name: str, value: object, default: float, bounds: tuple[float | None, float | None] = (None, None), *,
           lo_open: bool = False, off: float | None = None, note: str = "", says: str | None = None) -> float:
    """A finite number within `bounds`, [lo, hi] (or (lo, hi] with lo_open); otherwise as `whole`."""
    if blank(value):
        return default
    lo, hi = bounds
    x = _as_number(name, value, says or _kind(lo, hi, lo_open, False) + note)
    if off is not None and x == off:
        return float(x)
    _within(name, x, (lo, hi, lo_open), says, note, False)
    return float(x)
