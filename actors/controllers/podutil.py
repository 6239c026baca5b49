"""What controllers need to know about pods and owners (upstream's
``pkg/api/v1/pod`` and ``controller_utils.go``): activity, readiness,
availability, controller references, and which pods to delete first."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from kubeapi.models.base import parse_time

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


# ------------------------------------------------------------------------ pods
def pod_phase(pod: Mapping[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Neither finished nor being deleted: it counts toward a controller's replicas."""
    return pod_phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod)


def pod_condition(pod: Mapping[str, Any], ctype: str) -> dict | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype:
            return c
    return None


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    c = pod_condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> float | None:
    """When the pod last became Ready (its Ready condition's transition time)."""
    c = pod_condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime"))


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (ready at all when 0)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_seconds <= now


# ---------------------------------------------------------------------- owners
def controller_ref(obj: Mapping[str, Any]) -> dict | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True) -> dict:
    """A (controller) reference to ``owner`` that blocks its foreground deletion."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": True}


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == (owner.get("metadata") or {}).get("uid")


# ------------------------------------------------------------- deletion order
def _restarts(pod: Mapping[str, Any]) -> int:
    return max((c.get("restartCount") or 0 for c in (pod.get("status") or {}).get("containerStatuses") or ()),
               default=0)


def _deletion_cost(pod: Mapping[str, Any]) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_order(pods: Iterable[Mapping[str, Any]], related: Iterable[Mapping[str, Any]] = ()) -> list:
    """``pods`` from the one to delete first to the one to keep longest, as
    upstream's ``ActivePodsWithRanks``: unscheduled before scheduled; pending
    before unknown before running; not ready before ready; lower
    pod-deletion-cost first; pods doubled up on a node (counting ``related``
    pods of the same owner family) first; ready for a shorter time first;
    more restarts first; newer first."""
    pods = list(pods)
    per_node: dict[str, int] = {}
    for p in [*pods, *related]:
        node = (p.get("spec") or {}).get("nodeName")
        if node and is_pod_active(p):
            per_node[node] = per_node.get(node, 0) + 1

    def key(p: Mapping[str, Any]) -> tuple:
        node = (p.get("spec") or {}).get("nodeName") or ""
        ready = is_pod_ready(p)
        since = ready_since(p) if ready else None
        created = parse_time((p.get("metadata") or {}).get("creationTimestamp")) or 0.0
        return (bool(node), _PHASE_RANK.get(pod_phase(p), 3), ready, _deletion_cost(p),
                -per_node.get(node, 0) if node else 0,
                -(since or 0.0) if ready else 0.0, -_restarts(p), -created)
    return sorted(pods, key=key)
