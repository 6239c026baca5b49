"""What the apiserver itself sets on create, as upstream's registry strategies
(``PrepareForCreate``) do: clients never author status.

Workloads and Services start with an empty status; a Pod starts ``Pending``
with its QoS class computed from its containers' requests and limits.
"""
from __future__ import annotations

import base64
from fractions import Fraction
from typing import Any

from kubeapi.quantity import parse_quantity

# kinds whose status a create always clears (their controllers fill it in), as
# the zero value serializes upstream (fields without omitempty stay, as 0)
EMPTY_STATUS: dict[str, dict[str, Any]] = {
    "Deployment": {}, "Job": {}, "Service": {"loadBalancer": {}},
    "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                  "numberReady": 0},
}
STATUS_RESET = frozenset(EMPTY_STATUS)
QOS_RESOURCES = ("cpu", "memory")


def _positive(amounts: dict[str, Any] | None) -> dict[str, Fraction]:
    """The cpu and memory amounts above zero (upstream ignores the rest)."""
    out = {}
    for k, v in (amounts or {}).items():
        if k in QOS_RESOURCES:
            q = parse_quantity(v)
            if q.value > 0:
                out[k] = q.value
    return out


def pod_qos_class(spec: dict[str, Any]) -> str:
    """As upstream's GetPodQOS, counting only cpu and memory above zero:
    BestEffort when no container requests or limits either; Guaranteed when
    every container (init containers too) limits both, and the pod's summed
    requests name the same resources as its summed limits, in equal amounts;
    else Burstable. (A request left out has already defaulted to its limit.)"""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        for k, v in _positive(res.get("requests")).items():
            requests[k] = requests.get(k, 0) + v
        lim = _positive(res.get("limits"))
        for k, v in lim.items():
            limits[k] = limits.get(k, 0) + v
        if not all(r in lim for r in QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and requests == limits else "Burstable"


def canonicalize(kind: str, obj: dict[str, Any]) -> None:
    """What every write stores differently from what was sent: a Secret's
    write-only ``stringData`` is folded into ``data`` (base64), as upstream's
    conversion does."""
    if kind == "Secret" and obj.get("stringData"):
        data = dict(obj.get("data") or {})
        for k, v in obj.pop("stringData").items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data
    elif kind == "Secret":
        obj.pop("stringData", None)


def prepare_for_create(kind: str, obj: dict[str, Any]) -> None:
    """Set what the server owns on a new object (in place)."""
    canonicalize(kind, obj)
    if kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": pod_qos_class(obj.get("spec") or {})}
    elif kind == "Namespace":  # the namespace controller empties it before it goes
        spec = obj.setdefault("spec", {})
        spec["finalizers"] = list(dict.fromkeys([*(spec.get("finalizers") or ()), "kubernetes"]))
        obj["status"] = {"phase": "Active"}
    elif kind in STATUS_RESET:
        obj["status"] = dict(EMPTY_STATUS[kind])


JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def generate_job_selector(job: dict[str, Any], uid: str) -> str | None:
    """A Job without ``manualSelector`` gets a selector on its own uid, and its
    pod template the matching labels (upstream's generateSelector). Returns
    why it cannot, when the user set a selector without ``manualSelector``."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return None
    if spec.get("selector"):
        return "`selector` will be auto-generated"
    name = (job.get("metadata") or {}).get("name") or ""
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    labels = tmeta.get("labels") or {}
    tmeta["labels"] = {**labels, JOB_UID_LABEL: uid, JOB_NAME_LABEL: name,
                       "controller-uid": uid, "job-name": name}
    spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
    return None
