"""Kubernetes resource quantities (``resource.Quantity``) as exact decimals.

Resource requests, limits and quotas are fixed-point numbers written as
``<signedNumber><suffix>``::

    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <signedNumber>    ::= <number> | ("+" | "-") <number>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei           (powers of 1024)
    <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E (powers of 1000)
    <decimalExponent> ::= ("e" | "E") <signed integer>

Values are never floats: a parsed quantity is an exact ``Fraction`` that is a
whole number of nano-units, because the API keeps nothing finer than ``1n``.
The rules mirror the reference API server so that objects round-trip with
byte-identical canonical strings:

* A non-zero value finer than ``1n`` is rounded *away from zero* to the next
  nano (``0.1n`` -> ``1n``): asking for some resource must never yield none.
* A binarySI quantity is silently capped at ``2**63 - 1`` in magnitude while
  parsing (``8Ei`` -> 9223372036854775807); decimal quantities are not capped.
* A binarySI quantity strictly between -1 and 1 (non-zero) is re-labelled
  DecimalSI, since no binary suffix can express it.
* The suffix family the user chose is remembered and reused when printing.

Deliberate differences from the reference implementation, each chosen so that
a value can never be silently misread:

* A number with no digits (``Gi``, ``-``, ``.``) is rejected, as the grammar
  and the error's regular expression demand; the reference scanner reads some
  of these as zero.
* ``str()`` is always the canonical form; the reference sometimes echoes the
  input verbatim (``+1``, ``1E3``) from a parse cache.
* ``value_int``/``milli_value`` return exact Python ints rounded away from zero;
  the reference's int64 results overflow silently and, for some internal
  representations, round negative fractions toward zero.
* A binary value above ``1024Ei`` prints with a larger mantissa (``2048Ei``)
  instead of losing its suffix; an exponent outside int32 is a suffix error
  instead of wrapping; quantities needing more than ``MAX_DIGITS`` digits are
  refused so hostile input cannot exhaust memory.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal
from fractions import Fraction
from typing import Final

__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "ERR_FORMAT_WRONG",
    "ERR_NUMERIC",
    "ERR_SUFFIX",
    "MAX_DIGITS",
    "Quantity",
    "QuantityError",
    "parse_quantity",
]

BINARY_SI: Final = "BinarySI"
DECIMAL_SI: Final = "DecimalSI"
DECIMAL_EXPONENT: Final = "DecimalExponent"
_FORMATS: Final = frozenset({BINARY_SI, DECIMAL_SI, DECIMAL_EXPONENT})

# The regular expression quoted in the format error is the reference API's
# wording; clients match on these messages, so they are kept verbatim.
SPLIT_RE_STRING: Final = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG: Final = f"quantities must match the regular expression '{SPLIT_RE_STRING}'"
ERR_NUMERIC: Final = "unable to parse numeric part of quantity"
ERR_SUFFIX: Final = "unable to parse quantity's suffix"

#: Largest number of decimal digits (counted in nano-units) a quantity may need.
#: Real resources use fewer than 40; the bound keeps a hostile exponent such as
#: ``1e2000000000`` from allocating gigabytes, and stays under CPython's
#: int/str conversion limit.
MAX_DIGITS: Final = 4000

_NANO: Final = 10**9
_MAX_INT64: Final = 2**63 - 1
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1

_DECIMAL_SUFFIXES: Final[dict[str, int]] = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}
_BINARY_SUFFIXES: Final[dict[str, int]] = {
    "Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60,
}
_DECIMAL_BY_EXPONENT: Final = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER: Final = {e // 10: s for s, e in _BINARY_SUFFIXES.items()}
_MAX_DECIMAL_SI_EXPONENT: Final = 18
_MAX_BINARY_POWER: Final = 6  # 1024**6 == Ei

# A sign, then digits with an optional fractional part (digits checked later).
_NUMBER_RE: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?", re.ASCII)
# What may follow the number before the suffix is interpreted.
_SUFFIX_RE: Final = re.compile(r"[eEinumkKMGTP]*[+-]?[0-9]*", re.ASCII)
_EXPONENT_RE: Final = re.compile(r"[eE]([+-]?[0-9]+)", re.ASCII)


class QuantityError(ValueError):
    """A string is not a valid quantity; the message matches the reference API."""


def _ceil_div(n: int, d: int) -> int:
    """Divide positive ints rounding up, the direction quantities round in."""
    return -(-n // d)


def _strip_factors(n: int, base: int) -> tuple[int, int]:
    """Remove every factor ``base`` from ``n`` != 0, returning (rest, count).

    Squares the divisor while it still divides, so a value with thousands of
    trailing zeros costs O(log) big divisions rather than one per zero.
    """
    count = 0
    while n % base == 0:
        powers = [(base, 1)]
        while n % (powers[-1][0] ** 2) == 0:
            p, c = powers[-1]
            powers.append((p * p, c * 2))
        for p, c in reversed(powers):
            if n % p == 0:
                n //= p
                count += c
    return n, count


def _round_to_nanos(value: Fraction) -> int:
    """Nano-units of ``value``, rounding a finer remainder away from zero."""
    magnitude = _ceil_div(abs(value.numerator) * _NANO, value.denominator)
    return -magnitude if value < 0 else magnitude


def _interpret_suffix(suffix: str) -> tuple[int, int, str]:
    """Map a suffix to (base, exponent, format) or raise the suffix error."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    m = _EXPONENT_RE.fullmatch(suffix)
    if m is not None:
        exponent = int(m.group(1))
        if _INT32_MIN <= exponent <= _INT32_MAX:
            return 10, exponent, DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


def _nanos_from_parts(digits: str, scale: int, multiplier: int) -> int:
    """Nano-units (rounded up) of ``int(digits) * 10**scale * multiplier``.

    Works on the digit string so that extreme exponents never materialise
    enormous integers: a tiny value collapses straight to ``1n``.
    """
    stripped = digits.rstrip("0")
    scale += len(digits) - len(stripped)
    stripped = stripped.lstrip("0")
    if not stripped:
        return 0
    if len(stripped) > MAX_DIGITS:
        raise QuantityError(ERR_NUMERIC)
    shift = scale + 9  # power of ten between the digits and nano-units
    if shift >= 0:
        if len(stripped) + shift > MAX_DIGITS:
            raise QuantityError(ERR_NUMERIC)
        return int(stripped) * 10**shift * multiplier
    # multiplier is at most 2**60 < 10**19, so the product has fewer than
    # len(stripped) + 19 digits; a larger shift leaves less than one nano.
    if -shift > len(stripped) + 19:
        return 1
    return _ceil_div(int(stripped) * multiplier, 10**-shift)


def _parse_string(text: str) -> Quantity:
    """Scan ``text`` the way the reference parser does, then apply its rules."""
    if not text:
        raise QuantityError(ERR_FORMAT_WRONG)
    number = _NUMBER_RE.match(text)
    assert number is not None  # every part of the pattern is optional
    sign, whole, fraction = number.group(1), number.group(2), number.group(3) or ""
    suffix = text[number.end():]
    if not _SUFFIX_RE.fullmatch(suffix) or not (whole or fraction):
        raise QuantityError(ERR_FORMAT_WRONG)
    base, exponent, fmt = _interpret_suffix(suffix)

    if base == 2:
        nanos = _nanos_from_parts(whole + fraction, -len(fraction), 2**exponent)
        if nanos > _MAX_INT64 * _NANO:
            nanos = _MAX_INT64 * _NANO
        if 0 < nanos < _NANO:
            fmt = DECIMAL_SI
    else:
        nanos = _nanos_from_parts(whole + fraction, exponent - len(fraction), 1)
    if sign == "-":
        nanos = -nanos
    return Quantity(Fraction(nanos, _NANO), fmt)


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Quantity:
    """Quantities are immutable and a cluster writes the same few ("100m",
    "500Mi") over and over: parse each once."""
    return _parse_string(text)


@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact resource amount plus the suffix family used to print it.

    Equality, ordering and hashing look only at ``value`` (``1Ki == 1024``),
    as quota arithmetic needs; ``format`` affects printing alone.
    """

    value: Fraction
    format: str = DECIMAL_SI

    def __post_init__(self) -> None:
        """Normalise ``value`` to a nano-exact Fraction; reject bad inputs."""
        if self.format not in _FORMATS:
            raise ValueError(f"unknown quantity format {self.format!r}")
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, Fraction, Decimal)):
            raise TypeError(f"quantity value must be int, Fraction or Decimal, not {type(value).__name__}")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError("quantity value must be finite")
        exact = Fraction(value)
        if _NANO % exact.denominator != 0:  # finer than 1n: round like parsing does
            exact = Fraction(_round_to_nanos(exact), _NANO)
        object.__setattr__(self, "value", exact)

    @classmethod
    def parse(cls, s: str | int | float | Quantity) -> Quantity:
        """Parse a string, or a JSON number given as int/float.

        Numbers are read through their decimal text, as the API server reads
        unquoted JSON numbers, so ``1e-05`` keeps the DecimalExponent format.
        """
        if isinstance(s, Quantity):
            return s
        if isinstance(s, bool):
            raise TypeError("a boolean is not a quantity")
        if isinstance(s, int):
            if s.bit_length() > 3 * MAX_DIGITS:  # ~0.9 * MAX_DIGITS decimal digits
                raise QuantityError(ERR_NUMERIC)
            return _parse_string(str(s))
        if isinstance(s, float):
            if s != s or s in (float("inf"), float("-inf")):
                raise QuantityError(ERR_FORMAT_WRONG)
            return _parse_string(repr(s))
        if isinstance(s, str):
            return _parse_cached(s) if len(s) <= 32 else _parse_string(s)
        raise TypeError(f"cannot parse a quantity from {type(s).__name__}")

    # -- conversions ---------------------------------------------------------

    @property
    def nanos(self) -> int:
        """The value as a whole number of nano-units (always exact)."""
        return self.value.numerator * (_NANO // self.value.denominator)

    def scaled_value(self, scale: int) -> int:
        """``value / 10**scale`` rounded away from zero, as an exact int."""
        scaled = self.value / Fraction(10) ** scale
        magnitude = _ceil_div(abs(scaled.numerator), scaled.denominator)
        return -magnitude if scaled < 0 else magnitude

    def value_int(self) -> int:
        """Whole units rounded away from zero (``250m`` -> 1), never overflowing."""
        return self.scaled_value(0)

    def milli_value(self) -> int:
        """Milli-units rounded away from zero (``0.1m`` -> 1), never overflowing."""
        return self.scaled_value(-3)

    def is_zero(self) -> bool:
        """True for any zero, whatever its suffix family."""
        return self.value == 0

    # -- printing ------------------------------------------------------------

    def canonical(self) -> str:
        """The canonical string: no fraction digits, the largest suffix possible.

        BinarySI falls back to DecimalSI when the magnitude is below 1024 or
        not a whole number, so no precision is ever lost in print.
        """
        nanos = self.nanos
        if nanos == 0:
            return "0"
        fmt = self.format
        if fmt == BINARY_SI and (abs(nanos) < 1024 * _NANO or nanos % _NANO != 0):
            fmt = DECIMAL_SI
        if fmt == BINARY_SI:
            mantissa, power = _strip_factors(nanos // _NANO, 1024)
            if power > _MAX_BINARY_POWER:
                mantissa *= 1024 ** (power - _MAX_BINARY_POWER)
                power = _MAX_BINARY_POWER
            return f"{mantissa}{_BINARY_BY_POWER.get(power, '')}"
        mantissa, tens = _strip_factors(nanos, 10)
        exponent = tens - 9
        drop = exponent % 3  # lower the exponent to a multiple of three
        mantissa *= 10**drop
        exponent -= drop
        if fmt == DECIMAL_SI and exponent <= _MAX_DECIMAL_SI_EXPONENT:
            return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"
        # DecimalExponent, or DecimalSI beyond "E" which has no suffix.
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)

    def __str__(self) -> str:
        return self.canonical()

    # -- comparison ----------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value < other.value

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value <= other.value

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value > other.value

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value >= other.value

    # -- arithmetic ----------------------------------------------------------

    def _result_format(self, other: Quantity) -> str:
        """Keep the left operand's format, except that a zero adopts the right's.

        Summing into a zero accumulator therefore prints like its addends.
        """
        return other.format if self.value == 0 else self.format

    def __add__(self, other: object) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self.value + other.value, self._result_format(other))

    def __sub__(self, other: object) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self.value - other.value, self._result_format(other))

    def __neg__(self) -> Quantity:
        return Quantity(-self.value, self.format)


def parse_quantity(s: str | int | float | Quantity) -> Quantity:
    """Parse ``s`` into a Quantity, raising QuantityError if it is malformed."""
    return Quantity.parse(s)
