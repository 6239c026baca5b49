"""The pod garbage collector (upstream's ``pkg/controller/podgc``). Every
``period`` it deletes

* terminated pods (Succeeded/Failed) beyond ``threshold``, oldest first
  (``--terminated-pod-gc-threshold``, 12,500; 0 turns this off);
* pods bound to a node that no longer exists — once the node has been
  missing from the lister for ``quarantine`` and a quorum read confirms it
  is gone (a node being re-registered is not a reason to kill its pods) —
  forcibly, as no kubelet is left to finish them;
* pods being deleted that never got a node, and pods being deleted on a
  not-ready node tainted ``node.kubernetes.io/out-of-service``: forcibly.

Each forced deletion first marks the pod ``DisruptionTarget`` with the reason.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

from kubeapi import errors
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time, parse_time

from .base import Controller, Writer
from .nodelifecycle import ready_status, taints_of
from .podutil import is_terminating, pod_phase

KEY = "gc"
THRESHOLD = 12500
PERIOD = 20.0
QUARANTINE = 40.0
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"


class PodGCController(Controller):
    name = "podgc"

    def __init__(self, pods: Indexer, nodes: Indexer, client: Writer, *, threshold: int = THRESHOLD,
                 period: float = PERIOD, quarantine: float = QUARANTINE,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.pods = pods
        self.nodes = nodes
        self.client = client
        self.threshold = threshold
        self.period = period
        self.quarantine = quarantine
        self.wall = wall
        self.missing_since: dict[str, float] = {}
        self.deleted = 0
        self.queue.add(KEY)

    async def sync(self, key: str) -> None:
        try:
            await self.collect()
        finally:
            self.enqueue_after(KEY, self.period)

    async def collect(self) -> None:
        """One pass of every rule."""
        pods = self.pods.list()
        await self._terminated(pods)
        await self._orphaned(pods)
        for pod in pods:
            if not is_terminating(pod):
                continue
            node_name = (pod.get("spec") or {}).get("nodeName")
            if not node_name:
                await self._force_delete(pod, "DeletionByPodGC", "PodGC: unscheduled pod being deleted")
                continue
            node = self.nodes.get(node_name)
            if node is not None and ready_status(node) != "True" and \
                    any(t.get("key") == OUT_OF_SERVICE for t in taints_of(node)):
                await self._force_delete(pod, "DeletionByPodGC", "PodGC: node is out of service")

    async def _terminated(self, pods: list[dict]) -> None:
        if self.threshold <= 0:
            return
        done = [p for p in pods if pod_phase(p) in ("Succeeded", "Failed") and not is_terminating(p)]
        excess = len(done) - self.threshold
        if excess <= 0:
            return
        done.sort(key=lambda p: (parse_time(p["metadata"].get("creationTimestamp")) or 0.0, p["metadata"]["name"]))
        for pod in done[:excess]:
            await self._delete(pod, grace=None)

    async def _orphaned(self, pods: list[dict]) -> None:
        now = self.clock()
        bound = {(p.get("spec") or {}).get("nodeName") for p in pods} - {None, ""}
        missing = {n for n in bound if self.nodes.get(n) is None}
        self.missing_since = {n: self.missing_since.get(n, now) for n in missing}
        gone: set[str] = set()
        for node_name, since in self.missing_since.items():
            if now - since < self.quarantine:
                continue
            try:
                await self.client.get("nodes", node_name)
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    gone.add(node_name)
                    continue
                raise
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") in gone:
                await self._force_delete(pod, "DeletionByPodGC", "PodGC: node no longer exists")

    async def _force_delete(self, pod: dict, reason: str, message: str) -> None:
        status = copy.deepcopy(pod.get("status") or {})
        if pod_phase(pod) not in ("Succeeded", "Failed"):
            conditions = [c for c in status.get("conditions") or () if c.get("type") != "DisruptionTarget"]
            conditions.append({"type": "DisruptionTarget", "status": "True", "reason": reason,
                               "message": message, "lastTransitionTime": format_time(self.wall())})
            status["conditions"] = conditions
            try:
                await self.client.update_status(dict(pod, status=status))
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    return
                if not errors.is_conflict(e):
                    raise
        await self._delete(pod, grace=0)

    async def _delete(self, pod: dict, grace: int | None) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete("pods", meta["name"], meta.get("namespace"), grace_period_seconds=grace,
                                     preconditions={"uid": meta.get("uid")})
            self.deleted += 1
        except errors.ApiError as e:
            if not (errors.is_not_found(e) or errors.is_conflict(e)):
                raise
