"""What the apiserver itself sets on create, as upstream's registry strategies
(``PrepareForCreate``) do: clients never author status.

Workloads and Services start with an empty status; a Pod starts ``Pending``
with its QoS class computed from its containers' requests and limits.
"""
from __future__ import annotations

from typing import Any

from kubeapi.quantity import parse_quantity

# kinds whose status a create always clears (their controllers fill it in)
STATUS_RESET = frozenset({"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "Service"})
QOS_RESOURCES = ("cpu", "memory")


def _nonzero(amounts: dict[str, Any] | None) -> dict[str, Any]:
    out = {}
    for k, v in (amounts or {}).items():
        if k in QOS_RESOURCES:
            q = parse_quantity(v)
            if not q.is_zero():
                out[k] = q
    return out


def pod_qos_class(spec: dict[str, Any]) -> str:
    """BestEffort (no requests or limits), Guaranteed (every container limits cpu
    and memory with requests equal to limits), else Burstable — as upstream's
    GetPodQOS, counting only non-zero cpu and memory."""
    any_set, guaranteed = False, True
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        res = c.get("resources") or {}
        req = _nonzero(res.get("requests"))
        lim = _nonzero(res.get("limits"))
        any_set = any_set or bool(req) or bool(lim)
        for r in QOS_RESOURCES:
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def prepare_for_create(kind: str, obj: dict[str, Any]) -> None:
    """Set what the server owns on a new object (in place)."""
    if kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": pod_qos_class(obj.get("spec") or {})}
    elif kind in STATUS_RESET:
        obj["status"] = {"loadBalancer": {}} if kind == "Service" else {}
