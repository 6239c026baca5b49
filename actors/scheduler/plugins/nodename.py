"""NodeName: a pod with ``spec.nodeName`` fits only the node of that name
(upstream's ``nodename`` plugin). Rejections are UnschedulableAndUnresolvable:
preemption cannot rename a node."""
from __future__ import annotations

from typing import Any

from ..framework import SUCCESS, ClusterEvent, CycleState, Status
from ..nodeinfo import NodeInfo, PodInfo

NAME = "NodeName"

ERR_REASON = "node(s) didn't match the requested node name"


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    want = pod.spec.get("nodeName")
    return not want or want == node.name


class NodeName:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        self.handle = handle

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent("Node", "Add")]

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if fits(pod, node):
            return SUCCESS
        return Status.unschedulable(ERR_REASON, resolvable=False)
