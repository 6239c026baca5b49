"""Server-side printing: objects as ``meta.k8s.io/v1`` Tables.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` on
``get`` and prints the cells as given, so the columns (the registry's, as
upstream's printers define them) and their formatting live here, on the
server. Every column is sent with its priority; kubectl shows priority > 0
columns only with ``-o wide``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from kubeapi.registry import Resource

TABLE_API_VERSION = "meta.k8s.io/v1"
INCLUDE_OBJECT = ("None", "Metadata", "Object")


def wants_table(accept: str | None) -> bool:
    """Whether an Accept header asks for a Table (``as=Table;g=meta.k8s.io``)."""
    for part in (accept or "").split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip()
                  for p in part.split(";")[1:] if "=" in p}
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            return True
    return False


def _row_object(obj: dict, include: str) -> dict | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION,
            "metadata": obj.get("metadata") or {}}


def table(res: Resource, objs: Iterable[dict], *, list_meta: dict | None = None,
          include_object: str = "Metadata", column_definitions: bool = True,
          now: datetime | None = None) -> dict[str, Any]:
    """The Table of ``objs``; ``column_definitions=False`` leaves them out (watch
    events after the first)."""
    if include_object not in INCLUDE_OBJECT:
        raise ValueError(f"includeObject must be one of {', '.join(INCLUDE_OBJECT)}")
    now = now or datetime.now(timezone.utc)
    cols = res.columns
    rows = []
    for obj in objs:
        row: dict[str, Any] = {"cells": [c.cell(obj, now) for c in cols]}
        ro = _row_object(obj, include_object)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    out: dict[str, Any] = {"kind": "Table", "apiVersion": TABLE_API_VERSION,
                           "metadata": dict(list_meta or {})}
    out["columnDefinitions"] = [c.definition() for c in cols] if column_definitions else []
    out["rows"] = rows
    return out
