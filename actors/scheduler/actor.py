"""kube-scheduler as a Ray actor: N replicas, one active through a Lease.

The active replica runs informers on all pods and nodes (and on the
Services, ReplicaSets and StatefulSets that give PodTopologySpread its
default selector) through the apiserver (Ray transport), feeds them to a
:class:`Scheduler`, binds through ``pods/binding``, marks pods that fit nowhere ``PodScheduled=False`` with
upstream's message and a ``FailedScheduling`` Event, and carries out
preemption (``status.nominatedNodeName``, victims deleted gracefully). A
replica that loses the lease stops scheduling at once and campaigns again
with fresh state; a new leader rebuilds its cache from the informers, and
the binding subresource refuses a second binding, so no pod is bound twice.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import ray

from kubeapi import errors
from kubeapi.client import Client
from kubeapi.informer import NAMESPACE_INDEX, SharedInformerFactory
from kubeapi.events import event_for
from kubeapi.models.base import format_time

from ..apiserver.actor import NAMESPACE
from ..apiserver.transport import RayTransport
from ..election import Campaign, Timing
from .framework import PostFilterResult, Profile
from .plugins import REGISTRY, default_profile
from .plugins.podtopologyspread import workload_selector
from .scheduler import Scheduler

log = logging.getLogger("raykube.scheduler")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-scheduler"


def scheduler_name(index: int) -> str:
    return f"scheduler-{index}"


@dataclass
class SchedulerConfig:
    index: int
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    percentage_of_nodes_to_score: int = 0
    profile: Profile | None = None
    apiservers: list[Any] = field(default_factory=list)  # handles; empty: find them by name
    events: bool = True  # FailedScheduling events


class _PerPod:
    """API work about one pod (status reports, preemption's deletes) run in
    the background, in order per pod, so the scheduling loop never waits for
    the API; a binding first waits for what is still pending about its pod,
    so a late "unschedulable" report can never land after the binding."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Task] = {}

    def run(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        prev = self._last.get(key)

        async def chained() -> None:
            if prev is not None:
                await asyncio.gather(prev, return_exceptions=True)
            await work()
        task = asyncio.get_running_loop().create_task(chained())
        self._last[key] = task
        task.add_done_callback(lambda t: self._last.get(key) is t and self._last.pop(key, None))

    async def wait(self, key: str) -> None:
        task = self._last.get(key)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)


class _APIBinder:
    def __init__(self, client: Client, pending: _PerPod) -> None:
        self.client = client
        self.pending = pending

    async def bind(self, pod: dict, node: str) -> None:
        meta = pod["metadata"]
        await self.pending.wait(f"{meta['namespace']}/{meta['name']}")
        await self.client.bind(meta["namespace"], meta["name"], node)


class SchedulerActor:
    def __init__(self, cfg: SchedulerConfig) -> None:
        self.cfg = cfg
        self.client = Client(RayTransport(cfg.apiservers or None))
        self.started = time.monotonic()
        self.scheduler: Scheduler | None = None
        self._last_message: dict[str, str] = {}
        self._nominating: dict[str, str] = {}  # pod key -> node its preemption just nominated
        self._pending = _PerPod()
        self.campaign = Campaign(self.client, LEASE_NAMESPACE, LEASE_NAME,
                                 f"{scheduler_name(cfg.index)}_{os.urandom(4).hex()}", self._lead,
                                 Timing(cfg.lease_duration, cfg.renew_deadline, cfg.retry_period))
        self._task = asyncio.get_running_loop().create_task(self.campaign.run_forever())

    async def _lead(self, lost: asyncio.Event) -> None:
        """Schedule until leadership is lost."""
        sched = Scheduler(self.cfg.profile or default_profile(self.cfg.percentage_of_nodes_to_score),
                          REGISTRY, _APIBinder(self.client, self._pending), on_unschedulable=self._unschedulable,
                          on_preempt=self._preempt)
        self.scheduler = sched
        factory = SharedInformerFactory(self.client)
        factory.informer("pods").add_event_handler(
            on_add=lambda p: sched.on_pod("ADDED", p), on_update=lambda _o, p: sched.on_pod("MODIFIED", p),
            on_delete=lambda p: sched.on_pod("DELETED", getattr(p, "obj", p)))
        factory.informer("nodes").add_event_handler(
            on_add=lambda n: sched.on_node("ADDED", n), on_update=lambda _o, n: sched.on_node("MODIFIED", n),
            on_delete=lambda n: sched.on_node("DELETED", getattr(n, "obj", n)))
        # what selects a pod, for PodTopologySpread's default constraints
        selecting = {r: factory.informer(r).indexer for r in ("services", "replicasets", "statefulsets")}

        def default_selector(pod: dict) -> Any:
            ns = (pod.get("metadata") or {}).get("namespace", "")
            of = {r: indexer.by_index(NAMESPACE_INDEX, ns) for r, indexer in selecting.items()}
            return workload_selector(pod, of["services"], of["replicasets"] + of["statefulsets"])
        sched.default_selector = default_selector
        stop = asyncio.Event()  # the informers' own: set however this term ends
        factory.start(stop)
        try:
            await factory.wait_for_cache_sync(None)
            await sched.run(lost)
        finally:
            sched.queue.close()
            stop.set()
            await factory.shutdown()

    # ------------------------------------------------------------ reports
    async def _unschedulable(self, pod: dict, message: str) -> None:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        nominated = self._nominating.pop(key, None)
        self._pending.run(key, lambda: self._report(pod, key, message, nominated))

    async def _report(self, pod: dict, key: str, message: str, nominated: str | None) -> None:
        """One status patch: the PodScheduled=False condition, and the node
        preemption just nominated if it did (as upstream's updatePod); and
        the FailedScheduling Event."""
        meta = pod["metadata"]
        if self._last_message.get(key) == message and nominated is None:
            return  # said already
        self._last_message[key] = message
        if len(self._last_message) > 100_000:
            self._last_message.clear()
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                "lastProbeTime": None, "lastTransitionTime": format_time(time.time())}
        status: dict[str, Any] = {"conditions": [cond]}
        if nominated is not None:
            status["nominatedNodeName"] = nominated
        try:
            await self.client.patch("pods", meta["name"], {"status": status}, meta["namespace"],
                                    patch_type="strategic", subresource="status")
            if self.cfg.events:
                await self.client.create(event_for(pod, "FailedScheduling", message,
                                                   component="default-scheduler"))
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                log.warning("reporting %s unschedulable: %s", key, e)

    async def _preempt(self, pod: dict, result: PostFilterResult) -> None:
        """Delete the victims, all at once, in the background; the nomination
        goes out with the unschedulable report that follows."""
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        self._nominating[key] = result.nominated_node_name

        async def evict(victim: Any) -> None:
            try:
                await self.client.delete("pods", victim.name, victim.namespace)
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    log.warning("preempting %s: %s", victim.key, e)

        async def evict_all() -> None:
            await asyncio.gather(*(evict(v) for v in result.victims))
        self._pending.run(key, evict_all)

    async def status(self) -> dict:
        c = self.campaign
        st: dict[str, Any] = {"index": self.cfg.index, "identity": c.identity, "leading": c.leading,
                              "leader": c.leader, "terms_led": c.terms, "pid": os.getpid(),
                              "node_id": ray.get_runtime_context().get_node_id(),
                              "uptime_s": round(time.monotonic() - self.started, 3)}
        if self.scheduler is not None:
            st["metrics"] = self.scheduler.metrics.snapshot()
            st["queue"] = self.scheduler.queue.depths()
        return st


def scheduler_actor_class() -> Any:
    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=100)(SchedulerActor)


def start_schedulers(count: int, first_index: int = 1, **cfg: Any) -> list[Any]:
    """Start ``count`` detached scheduler replicas (one will lead) and wait until they answer."""
    handles = [scheduler_actor_class().options(name=scheduler_name(i), namespace=NAMESPACE,
                                               lifetime="detached").remote(SchedulerConfig(i, **cfg))
               for i in range(first_index, first_index + count)]
    ray.get([h.status.remote() for h in handles], timeout=60)
    return handles
