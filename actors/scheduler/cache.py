"""The scheduler's cache: nodes and the pods on them, including pods it has
*assumed* onto a node before their binding is confirmed (upstream's
``internal/cache``).

Assuming lets the next pod be scheduled at once against the resources the
previous one will use. When the informer then reports the pod bound, the
assumption is confirmed; if the binding fails the pod is forgotten; if the
binding was sent but never shows up within ``assumed_ttl`` the assumption
expires (the resources are released).

The live NodeInfos double as the snapshot of a scheduling cycle: a cycle
(filter + score) runs without yielding to the event loop, so nothing changes
underneath it; preemption clones the nodes it plays "what if" on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .framework import ListSnapshot
from .nodeinfo import NodeInfo, PodInfo

DEFAULT_ASSUMED_TTL = 30.0


@dataclass
class _PodState:
    info: PodInfo
    node: str
    assumed: bool = False
    binding_finished: bool = False
    deadline: float | None = None


class SchedulerCache:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 assumed_ttl: float = DEFAULT_ASSUMED_TTL) -> None:
        self.clock = clock
        self.assumed_ttl = assumed_ttl
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._snapshot: ListSnapshot | None = None

    # -------------------------------------------------------------- nodes
    def add_node(self, node: dict) -> NodeInfo:
        name = (node.get("metadata") or {}).get("name", "")
        ni = self._nodes.get(name)
        if ni is None:
            ni = self._nodes[name] = NodeInfo()
        if ni.node is None:  # new, or only a placeholder until now
            self._snapshot = None
        images = ni.image_states
        ni.set_node(node)
        if self._snapshot is not None and ni.image_states.keys() != images.keys():
            self._snapshot.images_changed()
        return ni

    update_node = add_node

    def remove_node(self, name: str) -> None:
        ni = self._nodes.get(name)
        if ni is None:
            return
        if ni.pods:  # pods still reported there keep a placeholder until they go
            ni.node = None
        else:
            del self._nodes[name]
        self._snapshot = None

    def node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    def node_count(self) -> int:
        return sum(1 for n in self._nodes.values() if n.node is not None)

    # --------------------------------------------------------------- pods
    def _node_info(self, name: str) -> NodeInfo:
        ni = self._nodes.get(name)
        if ni is None:  # a pod on a node we have not seen yet
            ni = self._nodes[name] = NodeInfo()
            ni.name = name
            self._snapshot = None
        return ni

    def _affinity_changed(self, info: PodInfo) -> None:
        if self._snapshot is not None and (info.has_affinity or info.has_required_anti_affinity):
            self._snapshot.affinity_changed()

    def _place(self, info: PodInfo, node: str) -> None:
        self._node_info(node).add_pod(info)
        self._affinity_changed(info)

    def _unplace(self, info: PodInfo, node: str) -> None:
        ni = self._nodes.get(node)
        if ni is not None:
            ni.remove_pod(info.key)
            self._affinity_changed(info)
            if ni.node is None and not ni.pods:
                del self._nodes[node]
                self._snapshot = None

    def assume_pod(self, info: PodInfo, node: str) -> None:
        """Account ``info`` on ``node`` ahead of its binding."""
        if info.key in self._pods:
            raise ValueError(f"pod {info.key} is already in the cache")
        self._place(info, node)
        self._pods[info.key] = _PodState(info, node, assumed=True)

    def finish_binding(self, key: str) -> None:
        """The binding was sent: start the assumption's expiry clock."""
        st = self._pods.get(key)
        if st is not None and st.assumed:
            st.binding_finished = True
            st.deadline = self.clock() + self.assumed_ttl

    def forget_pod(self, key: str) -> None:
        """The binding failed: release what was assumed."""
        st = self._pods.get(key)
        if st is not None and st.assumed:
            self._unplace(st.info, st.node)
            del self._pods[key]

    def is_assumed(self, key: str) -> bool:
        st = self._pods.get(key)
        return st is not None and st.assumed

    def add_pod(self, pod: dict) -> None:
        """A pod the informer reports bound to a node (confirms an assumption)."""
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return
        info = PodInfo.of(pod)
        st = self._pods.get(info.key)
        if st is not None:
            self._unplace(st.info, st.node)
        self._place(info, node)
        self._pods[info.key] = _PodState(info, node)

    def update_pod(self, pod: dict) -> None:
        self.add_pod(pod)

    def remove_pod(self, key: str) -> None:
        st = self._pods.pop(key, None)
        if st is not None:
            self._unplace(st.info, st.node)

    def pod_node(self, key: str) -> str | None:
        st = self._pods.get(key)
        return st.node if st is not None else None

    def cleanup_expired(self) -> list[str]:
        """Drop assumptions whose binding never showed up in time; their keys."""
        now = self.clock()
        gone = [k for k, st in self._pods.items()
                if st.assumed and st.binding_finished and st.deadline is not None and st.deadline <= now]
        for k in gone:
            self.forget_pod(k)
        return gone

    # ----------------------------------------------------------- snapshot
    def snapshot(self) -> ListSnapshot:
        """The nodes (with a Node object) as a cycle sees them; rebuilt only when
        nodes come or go — NodeInfos are updated in place."""
        if self._snapshot is None:
            self._snapshot = ListSnapshot(n for n in self._nodes.values() if n.node is not None)
        return self._snapshot
