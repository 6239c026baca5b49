"""NodeUnschedulable: keeps pods off cordoned nodes (``spec.unschedulable``)
unless they tolerate the ``node.kubernetes.io/unschedulable:NoSchedule``
taint (upstream's ``nodeunschedulable`` plugin). Rejections are
UnschedulableAndUnresolvable."""
from __future__ import annotations

from typing import Any

from ..framework import SUCCESS, ClusterEvent, CycleState, Status
from ..nodeinfo import NodeInfo, PodInfo
from .tainttoleration import tolerations_tolerate_taint

NAME = "NodeUnschedulable"

ERR_REASON_UNKNOWN_CONDITION = "node(s) had unknown conditions"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"

TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
UNSCHEDULABLE_TAINT = {"key": TAINT_NODE_UNSCHEDULABLE, "effect": "NoSchedule"}


def tolerates_unschedulable(pod: PodInfo) -> bool:
    return tolerations_tolerate_taint(pod.spec.get("tolerations") or (), UNSCHEDULABLE_TAINT)


class NodeUnschedulable:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        self.handle = handle

    def events_to_register(self) -> list[ClusterEvent]:
        # a node being uncordoned or added, or the pod gaining the toleration
        return [ClusterEvent("Node", "Add"), ClusterEvent("Node", "Update"), ClusterEvent("Pod", "Update")]

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if node.node is None:
            return Status.unschedulable(ERR_REASON_UNKNOWN_CONDITION, resolvable=False)
        if not node.unschedulable or tolerates_unschedulable(pod):
            return SUCCESS
        return Status.unschedulable(ERR_REASON_UNSCHEDULABLE, resolvable=False)
