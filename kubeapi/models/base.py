"""The machinery every API object model shares: naming, scalar types, encoding, unknown fields.

Objects travel as Kubernetes JSON, so the models have to reproduce upstream's wire form
exactly, not just hold the same data:

* **Names.** Python attributes are snake_case; the wire names are upstream's camelCase,
  including its initialisms (``imageID``, ``podIPs``, ``hostIPC``, ``setHostnameAsFQDN``).
  :func:`to_camel` derives them; the few names no rule can produce (``continue``, ``from``,
  ``Port``) carry an explicit alias.
* **Types.** Go decodes JSON without coercion: ``"80"`` is not an int32 and ``1`` is not a
  string. Models therefore validate in pydantic's strict mode, and the scalar aliases here
  add the ranges and formats Go's decoder enforces (int32 bounds, RFC 3339 times, base64).
* **Omission.** Upstream JSON leaves out a field tagged ``omitempty`` when it holds the
  zero value of its Go type, and a pointer field when it is nil. :func:`to_json` reproduces
  this from each field's declaration:

  - a required field, or one with a default factory, is always written;
  - an optional field holding ``None`` is never written (upstream would write ``null`` for
    some unset timestamps; leaving them out is equivalent on the wire);
  - an optional string, list or map is left out when empty (``omitempty``), unless the
    field is declared :data:`KeepEmpty` (a Go field without ``omitempty``);
  - an optional bool or number is written even when ``false``/``0`` (a Go pointer such as
    ``*bool`` or ``*int32``), unless declared :data:`OmitZero` (a Go value with
    ``omitempty``, such as ``hostNetwork`` or ``hostPort``);
  - a nested object is written whenever it is present, even empty (``resources: {}``).

* **Unknown fields.** The API server must answer ``fieldValidation=Strict|Warn|Ignore``,
  so parsing keeps unknown keys (``extra="allow"``) and :func:`unknown_fields` lists them
  by path; :func:`to_json` never writes them, as upstream's decoder drops them.
"""
from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "Base64",
    "Int32",
    "Int64",
    "IntOrString",
    "KEEP_EMPTY",
    "KeepEmpty",
    "KubeModel",
    "MicroTime",
    "OMIT_ZERO",
    "OmitZero",
    "Opaque",
    "QuantityValue",
    "Time",
    "to_camel",
    "to_json",
    "unknown_fields",
]


class _Encoding:
    """A marker placed in a field's ``Annotated`` metadata to say how upstream encodes it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


OMIT_ZERO = _Encoding("OMIT_ZERO")
"""A Go value type tagged ``omitempty``: ``false`` and ``0`` are not written."""

KEEP_EMPTY = _Encoding("KEEP_EMPTY")
"""A Go field without ``omitempty``: an empty string, list or object is still written."""

T = TypeVar("T")

OmitZero = Annotated[T | None, OMIT_ZERO]
"""An optional bool or number that upstream leaves out when false or zero."""

KeepEmpty = Annotated[T | None, KEEP_EMPTY]
"""An optional value that upstream writes even when empty (no ``omitempty`` tag)."""

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
"""A Go ``int32``: larger numbers are a decoding error upstream, not a silent wrap."""

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""A Go ``int64``."""

IntOrString = int | str
"""``intstr.IntOrString`` (``targetPort: 8080`` or ``targetPort: http``)."""

QuantityValue = str | int | float
"""A ``resource.Quantity`` as written: ``"250m"``, ``"1Gi"``, or a bare JSON number, which
YAML produces for ``cpu: 0.5``; ``kubeapi.quantity`` parses it when it is used."""

_RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"



def _utc(value: str) -> datetime:
    """Parse RFC 3339 (fractions beyond microseconds dropped, as Go's do)."""
    m = re.match(r"^([^.]*?)(\.\d+)?(Z|[+-]\d{2}:\d{2})$", value)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    frac = (m.group(2) or "")[:7]
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + frac + zone).astimezone(timezone.utc)


def format_time(t: float) -> str:
    """A Unix time as a ``metav1.Time`` is written: UTC, to the second (``...Z``)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    """A ``metav1.Time`` (or MicroTime) as Unix seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return _utc(str(value)).timestamp()
    except ValueError:
        return None


def _as_time(value: str) -> str:
    """Upstream re-encodes a Time in UTC to the second: ``...+02:00`` → ``...Z``."""
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_micro_time(value: str) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Time = Annotated[str, StringConstraints(pattern=_RFC3339), AfterValidator(_as_time)]
"""A ``metav1.Time``: an RFC 3339 timestamp, kept as upstream writes it (``2024-05-01T12:00:00Z``)."""

MicroTime = Annotated[str, StringConstraints(pattern=_RFC3339), AfterValidator(_as_micro_time)]
"""A ``metav1.MicroTime``: RFC 3339 with microseconds (``2024-05-01T12:00:00.123456Z``)."""

Base64 = Annotated[
    str,
    StringConstraints(pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"),
]
"""A Go ``[]byte``, which JSON carries as padded standard base64 (``Secret.data``)."""

Opaque = Annotated[dict[str, Any] | None, KEEP_EMPTY]
"""An upstream object kept as plain JSON (rarely used volume sources and the like): its
name is known, its content is stored and returned as given, without checks."""

_INITIALISMS = {
    "api": "API",
    "cidr": "CIDR",
    "cidrs": "CIDRs",
    "fqdn": "FQDN",
    "id": "ID",
    "ids": "IDs",
    "ip": "IP",
    "ipc": "IPC",
    "ips": "IPs",
    "pid": "PID",
    "uri": "URI",
    "url": "URL",
    "uuid": "UUID",
}


def to_camel(name: str) -> str:
    """Turn a snake_case attribute into upstream's JSON name (``pod_ips`` -> ``podIPs``).

    Go field names keep initialisms upper-case and their JSON tags follow, except in the
    first word (``ipFamilies``, ``apiVersion``), so only later words are upper-cased.
    """
    head, *rest = name.split("_")
    return head + "".join(_INITIALISMS.get(w, w[:1].upper() + w[1:]) for w in rest)


class KubeModel(BaseModel):
    """Base of every API object model and of every struct nested in one."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        strict=True,
    )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse decoded JSON from the wire.

        Only wire names are accepted here: a Python name such as ``image_pull_policy`` in a
        request is an unknown field, as it is upstream. Keyword construction in Python
        (``Container(image_pull_policy=...)``) accepts both.
        """
        return cls.model_validate(data, by_alias=True, by_name=False)

    def to_json(self) -> dict[str, Any]:
        """This object as upstream's JSON would be (see :func:`to_json`)."""
        return to_json(self)


@dataclass(frozen=True, slots=True)
class _Slot:
    """How one field of a model class is written and walked (computed once per class)."""

    name: str
    key: str
    always: bool
    omit_zero: bool
    nested: bool


def _may_hold_model(annotation: Any) -> bool:
    """Whether values of this type can contain a :class:`KubeModel` (worth walking)."""
    if isinstance(annotation, type):
        return issubclass(annotation, KubeModel)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _may_hold_model(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict):
        return any(_may_hold_model(a) for a in typing.get_args(annotation))
    return False


@functools.cache
def _plan(cls: type[KubeModel]) -> tuple[_Slot, ...]:
    slots = []
    for name, info in cls.model_fields.items():
        key = info.alias or name
        always = info.is_required() or info.default_factory is not None or KEEP_EMPTY in info.metadata
        slots.append(_Slot(name, key, always, OMIT_ZERO in info.metadata, _may_hold_model(info.annotation)))
    return tuple(slots)


def _encode(value: Any) -> Any:
    if isinstance(value, KubeModel):
        return to_json(value)
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def to_json(obj: KubeModel) -> dict[str, Any]:
    """Encode ``obj`` as the JSON object upstream would produce, with wire names only.

    Omission follows the field declarations (see the module docstring); unknown fields
    that parsing kept are not written.
    """
    out: dict[str, Any] = {}
    for slot in _plan(type(obj)):
        value = getattr(obj, slot.name)
        if value is None:
            continue
        if not slot.always:
            if isinstance(value, (str, list, dict)) and not value:
                continue
            if slot.omit_zero and not value:
                continue
        out[slot.key] = _encode(value)
    return out


def unknown_fields(obj: KubeModel, path: str = "") -> list[str]:
    """Paths of every field in ``obj`` that the API does not define, in document order.

    Paths are written as upstream reports them (``spec.containers[0].imagePullPolizy``), so
    the API server can reject them (Strict), return them as warnings (Warn) or ignore them.
    """
    found: list[str] = []
    _walk_model(obj, path, found)
    return found


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk_model(obj: KubeModel, path: str, found: list[str]) -> None:
    if obj.model_extra:
        found.extend(_join(path, key) for key in obj.model_extra)
    for slot in _plan(type(obj)):
        if slot.nested:
            value = getattr(obj, slot.name)
            if value is not None:
                _walk_value(value, _join(path, slot.key), found)


def _walk_value(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, KubeModel):
        _walk_model(value, path, found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk_value(item, f"{path}[{i}]", found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk_value(item, f"{path}[{key}]", found)
