"""Field paths and field-level validation errors, worded as the Kubernetes API server words them.

Every validation failure the API server reports names the offending field
(``spec.containers[0].ports[1].containerPort``), says what kind of problem it is and, usually,
shows the bad value. kubectl and client libraries print these strings verbatim and tools match on
the ``reason`` of each cause, so both the text and the machine-readable type must match upstream:

* :class:`Path` builds field paths (``child``, ``index``, ``key``);
* :class:`FieldError` is one problem; module-level constructors (:func:`required`,
  :func:`invalid`, :func:`not_supported`, ...) fill in upstream's standard details;
* :class:`ErrorList` collects them, aggregates them into one message and converts them to
  ``Status`` causes for a 422 response.

Bad values are rendered the way the API server (Kubernetes 1.33) does: strings Go-quoted, numbers
and booleans bare, anything else as compact JSON.

Pure and synchronous: no I/O, no Ray.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable, Sequence

__all__ = [
    "ErrorList",
    "ErrorType",
    "FieldError",
    "OMIT_VALUE",
    "Path",
    "PathLike",
    "duplicate",
    "forbidden",
    "go_quote",
    "internal_error",
    "invalid",
    "not_found",
    "not_supported",
    "render_value",
    "required",
    "too_long",
    "too_long_characters",
    "too_many",
    "type_invalid",
]


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------


class Path:
    """An immutable field path; each step is a named child, a list index or a map key.

    Immutable so a parent path can be shared by every child a validator derives from it.
    ``Path("spec", "template")`` is shorthand for ``Path("spec").child("template")``.
    """

    __slots__ = ("name", "parent", "subscript")
    name: str
    parent: Path | None
    subscript: str | None  # set for index/key steps, which have no name

    def __init__(self, name: str = "", *more: str, parent: Path | None = None,
                 subscript: str | None = None) -> None:
        # Fold extra names into a chain so every node holds exactly one step.
        if more:
            parent = Path(name, parent=parent, subscript=subscript)
            for n in more[:-1]:
                parent = Path(n, parent=parent)
            name, subscript = more[-1], None
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "parent", parent)
        object.__setattr__(self, "subscript", subscript)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Path is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Path) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def child(self, name: str, *more: str) -> Path:
        """The path of a struct field (``.name``) below this one."""
        return Path(name, *more, parent=self)

    def index(self, i: int) -> Path:
        """The path of list element ``i`` (``[i]``)."""
        return Path("", parent=self, subscript=str(i))

    def key(self, k: str) -> Path:
        """The path of map entry ``k`` (``[k]``; the key is not quoted, as upstream)."""
        return Path("", parent=self, subscript=k)

    def root(self) -> Path:
        """The first step of this path."""
        p = self
        while p.parent is not None:
            p = p.parent
        return p

    def __str__(self) -> str:
        steps: list[Path] = []
        p: Path | None = self
        while p is not None:
            steps.append(p)
            p = p.parent
        out: list[str] = []
        for step in reversed(steps):
            if step.subscript is not None:
                out.append(f"[{step.subscript}]")
            else:
                if step.parent is not None and step.name:
                    out.append(".")
                out.append(step.name)
        return "".join(out)

    def __repr__(self) -> str:
        return f"Path({str(self)!r})"


PathLike = Path | str | None


def _path_str(path: PathLike) -> str:
    # Upstream prints a nil path as "<nil>"; callers use that for errors not tied to a field.
    if path is None:
        return "<nil>"
    return str(path)


# --------------------------------------------------------------------------------------------
# Rendering bad values the way Go's fmt / encoding/json would
# --------------------------------------------------------------------------------------------


class _Omit:
    """Marker for "no value to show" (e.g. a too-many error whose actual count is unknown)."""

    _instance: _Omit | None = None

    def __new__(cls) -> _Omit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMIT_VALUE"


OMIT_VALUE = _Omit()

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(s: str) -> str:
    """Quote ``s`` like Go's ``%q``: printable characters kept, others escaped.

    Used for string bad values and supported-value lists, where upstream uses ``%q``.
    """
    out = ['"']
    for c in s:
        if c in _GO_ESCAPES:
            out.append(_GO_ESCAPES[c])
        elif c.isprintable():
            out.append(c)
        else:
            cp = ord(c)
            if cp < 0x20 or cp == 0x7F:
                out.append(f"\\x{cp:02x}")
            elif cp < 0x10000:
                out.append(f"\\u{cp:04x}")
            else:
                out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def _go_float(x: float) -> str:
    """Format a float as Go's ``%v`` does (shortest digits, exponent form outside [1e-4, 1e6))."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    _, digits_t, exp10 = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digits_t))
    nd = len(digits)
    dp = nd + int(exp10)  # position of the decimal point relative to the digits
    exp = dp - 1
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if nd > 1 else "")
        return f"{sign}{mant}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= nd:
        return sign + digits + "0" * (dp - nd)
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _go_json(value: Any) -> str | None:
    """Compact JSON with Go's HTML-safe escaping and sorted map keys, or None if not encodable."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                          allow_nan=False)
    except (TypeError, ValueError):
        return None
    # These characters can only occur inside JSON strings, so a plain replace is safe.
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_value(value: Any) -> str:
    """Render a bad value as it appears after ``Invalid value:`` in upstream messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    rendered = _go_json(value)
    return rendered if rendered is not None else str(value)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ErrorType(str, Enum):
    """Machine-readable error kinds; the values are the ``reason`` of a Status cause."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"

    @property
    def label(self) -> str:
        """The human prefix of the message (``Invalid value``, ``Required value``, ...)."""
        return _LABELS[self]


_LABELS = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}

# Types whose message never shows the value (it is absent, or too big to echo back).
_VALUELESS = frozenset({ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL})


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation problem: what kind, at which field, the offending value and a detail."""

    type: ErrorType
    field: str
    bad_value: Any = None
    detail: str = ""

    def body(self) -> str:
        """The message without the field (``Invalid value: 0: must be ...``); a cause's ``message``."""
        if self.type in _VALUELESS or self.bad_value is OMIT_VALUE:
            s = self.type.label
        else:
            s = f"{self.type.label}: {render_value(self.bad_value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    def error(self) -> str:
        """The full message, ``<field>: <body>``, as it appears inside an Invalid status message."""
        return f"{self.field}: {self.body()}"

    def __str__(self) -> str:
        return self.error()

    def to_cause(self) -> dict[str, str]:
        """This error as a ``StatusCause`` (``reason``/``message``/``field``, empty members omitted)."""
        cause = {"reason": self.type.value, "message": self.body(), "field": self.field}
        return {k: v for k, v in cause.items() if v}


def not_found(path: PathLike, value: Any) -> FieldError:
    """A referenced value (e.g. an ID) does not exist."""
    return FieldError(ErrorType.NOT_FOUND, _path_str(path), value)


def required(path: PathLike, detail: str = "") -> FieldError:
    """A value that must be set is missing or empty."""
    return FieldError(ErrorType.REQUIRED, _path_str(path), "", detail)


def duplicate(path: PathLike, value: Any) -> FieldError:
    """A value that must be unique appears more than once."""
    return FieldError(ErrorType.DUPLICATE, _path_str(path), value)


def invalid(path: PathLike, value: Any, detail: str) -> FieldError:
    """A malformed or out-of-range value."""
    return FieldError(ErrorType.INVALID, _path_str(path), value, detail)


def type_invalid(path: PathLike, value: Any, detail: str) -> FieldError:
    """A value of the wrong JSON type for its field (reported as ``Invalid value``)."""
    return FieldError(ErrorType.TYPE_INVALID, _path_str(path), value, detail)


def not_supported(path: PathLike, value: Any, valid_values: Iterable[Any] = ()) -> FieldError:
    """A value outside an enumeration; the allowed values are listed, Go-quoted, in order."""
    valid = [go_quote(str(v)) for v in valid_values]
    detail = "supported values: " + ", ".join(valid) if valid else ""
    return FieldError(ErrorType.NOT_SUPPORTED, _path_str(path), value, detail)


def forbidden(path: PathLike, detail: str) -> FieldError:
    """A well-formed value that is not allowed here (policy, immutability, ...)."""
    return FieldError(ErrorType.FORBIDDEN, _path_str(path), "", detail)


def too_long(path: PathLike, max_length: int) -> FieldError:
    """A value longer than ``max_length`` bytes; the value itself is not echoed back."""
    if max_length >= 0:
        detail = f"may not be more than {max_length} {'byte' if max_length == 1 else 'bytes'}"
    else:
        detail = "value is too long"
    return FieldError(ErrorType.TOO_LONG, _path_str(path), OMIT_VALUE, detail)


def too_long_characters(path: PathLike, max_length: int) -> FieldError:
    """Like :func:`too_long` but counted in characters, for limits defined on runes."""
    if max_length >= 0:
        detail = f"may not be more than {max_length} {'character' if max_length == 1 else 'characters'}"
    else:
        detail = "value is too long"
    return FieldError(ErrorType.TOO_LONG, _path_str(path), OMIT_VALUE, detail)


def too_many(path: PathLike, actual: int, max_quantity: int) -> FieldError:
    """A list with more than ``max_quantity`` items; a negative ``actual`` is not shown."""
    if max_quantity >= 0:
        detail = f"must have at most {max_quantity} {'item' if max_quantity == 1 else 'items'}"
    else:
        detail = "has too many items"
    return FieldError(ErrorType.TOO_MANY, _path_str(path), actual if actual >= 0 else OMIT_VALUE, detail)


def internal_error(path: PathLike, err: BaseException | str) -> FieldError:
    """A failure of the validator itself rather than of the user's input."""
    return FieldError(ErrorType.INTERNAL, _path_str(path), None, str(err))


class ErrorList(list[FieldError]):
    """A list of :class:`FieldError` that knows how to report itself.

    A plain ``list`` subclass so validators can ``append``/``extend``/``+=`` freely and
    ``if errs:`` reads naturally.
    """

    def __init__(self, errors: Iterable[FieldError] = ()) -> None:
        super().__init__(errors)

    def messages(self) -> list[str]:
        """Each error's full message, duplicates removed, first occurrence first."""
        seen: dict[str, None] = {}
        for e in self:
            seen.setdefault(e.error(), None)
        return list(seen)

    def aggregate(self) -> str:
        """One message for all errors: the message itself if only one, else ``[a, b, ...]``.

        Identical messages are reported once, as upstream does when aggregating.
        """
        msgs = self.messages()
        if not msgs:
            return ""
        return msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"

    def to_causes(self) -> list[dict[str, str]]:
        """Every error as a Status cause (not de-duplicated, matching upstream)."""
        return [e.to_cause() for e in self]

    def filter_out(self, *types: ErrorType) -> ErrorList:
        """A copy without errors of the given types."""
        return ErrorList(e for e in self if e.type not in types)

    def __add__(self, other: Sequence[FieldError]) -> ErrorList:  # type: ignore[override]
        return ErrorList([*self, *other])
