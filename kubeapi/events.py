"""core/v1 Events as components record them about an object."""
from __future__ import annotations

import time
from typing import Any, Mapping

from .models.base import format_time


def event_for(obj: Mapping[str, Any], reason: str, message: str, *, component: str, kind: str = "Pod",
              type: str = "Warning", host: str = "", now: float | None = None) -> dict:
    """An Event about ``obj``, named as upstream's recorder names them
    (``<object>.<unix nanos in hex>``)."""
    meta = obj.get("metadata") or {}
    t = time.time() if now is None else now
    stamp = format_time(t)
    source = {"component": component}
    if host:
        source["host"] = host
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{int(t * 1e9):x}", "namespace": meta.get("namespace") or "default"},
            "involvedObject": {"apiVersion": obj.get("apiVersion") or "v1", "kind": obj.get("kind") or kind,
                               "name": meta.get("name"), "namespace": meta.get("namespace"),
                               "uid": meta.get("uid", "")},
            "reason": reason, "message": message, "type": type, "source": source,
            "reportingComponent": component, "reportingInstance": host,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1}
