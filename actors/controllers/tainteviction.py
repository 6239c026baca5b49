"""The taint eviction controller (upstream's NoExecuteTaintManager): a pod on
a node with a NoExecute taint it does not tolerate is deleted at once; one
that tolerates it for ``tolerationSeconds`` is deleted that long after the
taint was added (the taint's ``timeAdded``, so a restarted controller keeps
the same deadline); a toleration without seconds tolerates it for ever.
Before deleting, the pod gets the ``DisruptionTarget`` condition saying why.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time, parse_time

from ..scheduler.plugins.tainttoleration import find_matching_untolerated_taint, toleration_tolerates_taint
from .base import Controller, Writer, object_key
from .nodelifecycle import NO_EXECUTE, NODE_INDEX, ensure_node_index, taints_of
from .podutil import is_terminating


def no_execute_taints(node: dict | None) -> list[dict]:
    return [t for t in taints_of(node or {}) if t.get("effect") == NO_EXECUTE]


def eviction_time(pod: dict, taints: list[dict], now: float) -> float | None:
    """When ``pod`` must go because of ``taints`` (now if one is not tolerated),
    or None if it tolerates them for ever."""
    if not taints:
        return None
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    if find_matching_untolerated_taint(taints, tolerations) is not None:
        return now
    due: float | None = None
    for taint in taints:
        seconds = [t["tolerationSeconds"] for t in tolerations
                   if toleration_tolerates_taint(t, taint) and t.get("tolerationSeconds") is not None]
        if not seconds:
            continue  # some toleration of it has no limit
        added = parse_time(taint.get("timeAdded")) or now
        at = added + max(0, min(seconds))
        due = at if due is None else min(due, at)
    return due


class TaintEvictionController(Controller):
    name = "taint-eviction"

    def __init__(self, nodes: Indexer, pods: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.nodes = nodes
        self.pods = pods
        ensure_node_index(pods)
        self.client = client
        self.wall = wall
        self.evicted = 0

    def on_node(self, node: Any) -> None:
        if isinstance(node, dict) and no_execute_taints(node):
            self._enqueue_pods_on(node)

    def on_node_update(self, old: Any, new: Any) -> None:
        if no_execute_taints(old) != no_execute_taints(new):
            self._enqueue_pods_on(new)

    def _enqueue_pods_on(self, node: dict) -> None:
        for pod in self.pods.by_index(NODE_INDEX, node["metadata"]["name"]):
            self.enqueue(pod)

    def on_pod(self, pod: Any) -> None:
        if isinstance(pod, dict) and (pod.get("spec") or {}).get("nodeName") and not is_terminating(pod):
            self.enqueue(pod)

    def on_pod_update(self, old: Any, new: Any) -> None:
        if (old.get("spec") or {}).get("nodeName") != (new.get("spec") or {}).get("nodeName") or \
                (old.get("spec") or {}).get("tolerations") != (new.get("spec") or {}).get("tolerations"):
            self.on_pod(new)

    async def sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or is_terminating(pod):
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        now = self.wall()
        due = eviction_time(pod, no_execute_taints(self.nodes.get(node_name)), now)
        if due is None:
            return
        if due > now:
            self.enqueue_after(key, due - now)
            return
        await self._evict(pod)

    async def _evict(self, pod: dict) -> None:
        meta = pod["metadata"]
        status = copy.deepcopy(pod.get("status") or {})
        conditions = [c for c in status.get("conditions") or () if c.get("type") != "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                           "message": "Taint manager: deleting due to NoExecute taint",
                           "lastTransitionTime": format_time(self.wall())})
        try:
            await self.client.update_status(dict(pod, status=dict(status, conditions=conditions)))
            await self.client.delete("pods", meta["name"], meta.get("namespace"),
                                     preconditions={"uid": meta.get("uid")})
            self.evicted += 1
        except errors.ApiError as e:
            if errors.is_conflict(e):
                self.enqueue(object_key(pod))  # changed meanwhile: look again
            elif not errors.is_not_found(e):
                raise
