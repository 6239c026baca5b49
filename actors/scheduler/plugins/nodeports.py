"""NodePorts: a pod's host ports must be free on the node (upstream's
``nodeports`` plugin).

* PreFilter: the pod's host ports (containers' ports with a ``hostPort``;
  host IP defaulting to 0.0.0.0, protocol to TCP); Skip when there are none.
* Filter: a wanted (hostIP, protocol, hostPort) clashes with one in use on the
  node when protocol and port are equal and the IPs are equal or either is
  0.0.0.0; a clash rejects the node, Unschedulable (preemption may free it).
"""
from __future__ import annotations

from typing import Any, Iterable

from ..framework import SUCCESS, ClusterEvent, Code, CycleState, PreFilterResult, Status
from ..nodeinfo import HostPort, NodeInfo, PodInfo

NAME = "NodePorts"
PRE_FILTER_STATE_KEY = "PreFilter" + NAME

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"

_ANY_IP = "0.0.0.0"


class _PreFilterState:
    """The pod's host ports, split for lookups: those on a specific IP (which
    clash with the same IP or 0.0.0.0) and the (protocol, port) pairs wanted
    on 0.0.0.0 (which clash with any IP)."""

    __slots__ = ("ports", "specific", "any_ip")

    def __init__(self, ports: Iterable[HostPort]) -> None:
        self.ports = tuple(ports)
        self.specific = tuple((ip, proto, port) for ip, proto, port in self.ports if ip != _ANY_IP)
        self.any_ip = frozenset((proto, port) for ip, proto, port in self.ports if ip == _ANY_IP)

    def clone(self) -> _PreFilterState:  # read-only once written
        return self


def fits_ports(wanted: _PreFilterState, used: set[HostPort]) -> bool:
    """Whether none of the wanted ports clashes with ``used``: same protocol
    and port, and the same IP or either side on 0.0.0.0 (upstream's
    HostPortInfo.CheckConflict)."""
    if not used:
        return True
    for ip, proto, port in wanted.specific:
        if (ip, proto, port) in used or (_ANY_IP, proto, port) in used:
            return False
    any_ip = wanted.any_ip
    if any_ip:
        for _, proto, port in used:
            if (proto, port) in any_ip:
                return False
    return True


class NodePorts:
    name = NAME

    def __init__(self, args: dict | None = None, handle: Any = None) -> None:
        self.handle = handle

    def events_to_register(self) -> list[ClusterEvent]:
        # a pod's ports are immutable: only a pod leaving or a new node frees ports
        return [ClusterEvent("Pod", "Delete"), ClusterEvent("Node", "Add")]

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status]:
        if not pod.ports:
            return None, Status(Code.SKIP)
        state.write(PRE_FILTER_STATE_KEY, _PreFilterState(pod.ports))
        return None, SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        s = state.get(PRE_FILTER_STATE_KEY)
        if not isinstance(s, _PreFilterState):
            s = _PreFilterState(pod.ports)
        if fits_ports(s, node.used_ports):
            return SUCCESS
        return Status.unschedulable(ERR_REASON)
