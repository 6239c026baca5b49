"""The scheduling loop, transport-free (upstream's ``scheduleOne``).

Each cycle pops the highest-priority pod, finds feasible nodes (PreFilter,
then Filter over a rotating window of nodes sized by
``percentageOfNodesToScore``), scores them (PreScore, Score, normalized and
weighted), picks the best (ties at random), assumes the pod there in the
cache and hands it to the binding cycle (Reserve, Permit, PreBind, Bind)
which runs concurrently with the next cycles. A pod that fits nowhere gets
PostFilter (preemption) and goes back to the queue as unschedulable, with a
FitError message for its PodScheduled condition.

I/O is done through the :class:`Binder` the caller supplies (the actor binds
through the apiserver; the in-process benchmark binds into the cache).
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from .cache import SchedulerCache
from .framework import (ClusterEvent, Code, CycleState, Framework, PostFilterResult, Profile, Status,
                        fit_error_message)
from .nodeinfo import NodeInfo, PodInfo, pod_key
from .queue import QueuedPodInfo, SchedulingQueue

log = logging.getLogger("raykube.scheduler")

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
DEFAULT_PERCENTAGE_BASE = 50


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes to look for before scoring (upstream's adaptive
    rule: max(5, 50 - nodes/125)% of the nodes, at least 100)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    pct = percentage
    if pct <= 0:
        pct = max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND, DEFAULT_PERCENTAGE_BASE - num_all_nodes // 125)
    if pct >= 100:
        return num_all_nodes
    return max(num_all_nodes * pct // 100, MIN_FEASIBLE_NODES_TO_FIND)


class Binder(Protocol):
    async def bind(self, pod: dict, node: str) -> None:
        """Bind, or raise (the pod is then forgotten and retried)."""
        ...


@dataclass
class ScheduleResult:
    node: str | None = None
    evaluated: int = 0
    feasible: int = 0
    status: Status = field(default_factory=Status)
    statuses: dict[str, Status] = field(default_factory=dict)
    message: str = ""
    post_filter: PostFilterResult | None = None


@dataclass
class Metrics:
    scheduled: int = 0
    attempts: dict[str, int] = field(default_factory=lambda: {"scheduled": 0, "unschedulable": 0, "error": 0})
    preemptions: int = 0
    # scheduling attempt latency (seconds), in buckets as upstream's histogram
    buckets: tuple[float, ...] = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512,
                                  1.024, 2.048, 4.096, 8.192, 16.384)
    counts: list[int] = field(default_factory=lambda: [0] * 16)
    latencies: list[float] = field(default_factory=list)  # kept for percentiles (bounded)

    def observe(self, seconds: float) -> None:
        for i, b in enumerate(self.buckets):
            if seconds <= b:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        if len(self.latencies) < 200_000:
            self.latencies.append(seconds)

    def snapshot(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1e3, 3) if lat else 0.0
        return {"scheduled": self.scheduled, "attempts": dict(self.attempts), "preemptions": self.preemptions,
                "latency_buckets": dict(zip([str(b) for b in self.buckets] + ["+Inf"], self.counts)),
                "latency_percentiles_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99)}}


UnschedulableHook = Callable[[dict, str], Awaitable[None]]
PreemptHook = Callable[[dict, PostFilterResult], Awaitable[None]]


class Scheduler:
    def __init__(self, profile: Profile, registry: dict[str, Any], binder: Binder, *,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 cache: SchedulerCache | None = None, queue: SchedulingQueue | None = None,
                 on_unschedulable: UnschedulableHook | None = None,
                 on_preempt: PreemptHook | None = None, max_binding_concurrency: int = 64) -> None:
        self.clock = clock
        self.rng = rng or random.Random()
        self.cache = cache or SchedulerCache(clock=clock)
        self.framework = Framework(profile, registry, self)
        self.queue = queue or SchedulingQueue(clock=clock, plugin_events={
            name: (pl.events_to_register() if hasattr(pl, "events_to_register") else [ClusterEvent("*")])
            for name, pl in self.framework.plugins.items()})
        self.binder = binder
        self.on_unschedulable = on_unschedulable
        self.on_preempt = on_preempt
        self.percentage = profile.percentage_of_nodes_to_score
        self.next_start_node_index = 0
        self.metrics = Metrics()
        # PodTopologySpread's default selector for a pod (the actor sets it
        # from its Service, ReplicaSet and StatefulSet informers)
        self.default_selector: Callable[[dict], Any] | None = None
        # pods that preempted: node → the pods nominated there (their room is kept for them)
        self.nominated: dict[str, dict[str, PodInfo]] = {}
        self._nominated_node: dict[str, str] = {}
        self._binding: set[asyncio.Task] = set()
        self._bind_slots = asyncio.Semaphore(max_binding_concurrency)

    # the framework's Handle
    @property
    def snapshot(self) -> Any:
        return self.cache.snapshot()

    # ---------------------------------------------------------- the cycle
    def schedule_pod(self, pod: PodInfo, state: CycleState | None = None) -> ScheduleResult:
        """Pick a node for ``pod`` (pure: no cache change)."""
        state = state or CycleState()
        nodes = self.cache.snapshot().list()
        if not nodes:
            return ScheduleResult(status=Status.unschedulable("no nodes available to schedule pods"),
                                  message="no nodes available to schedule pods")
        pre, st = self.framework.run_pre_filter(state, pod, nodes)
        if not st.is_success():
            return ScheduleResult(status=st, message=fit_error_message(len(nodes), {}, st))
        candidates = nodes if pre is None or pre.node_names is None else \
            [n for n in nodes if n.name in pre.node_names]
        feasible, statuses, evaluated = self._find_feasible(state, pod, candidates, len(nodes))
        if not feasible:
            result = ScheduleResult(evaluated=evaluated, status=Status.unschedulable(), statuses=statuses)
            if pre is not None and pre.node_names is not None:  # the rest were ruled out before filtering
                for n in nodes:
                    if n.name not in pre.node_names:
                        statuses[n.name] = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                                  ["node(s) didn't satisfy plugin(s) [PreFilter]"])
            result.message = fit_error_message(len(nodes), statuses)
            return result
        if len(feasible) == 1:
            return ScheduleResult(node=feasible[0].name, evaluated=evaluated, feasible=1)
        st = self.framework.run_pre_score(state, pod, feasible)
        if not st.is_success():
            return ScheduleResult(status=st, message=st.message())
        totals, st = self.framework.run_score(state, pod, feasible)
        if not st.is_success():
            return ScheduleResult(status=st, message=st.message())
        return ScheduleResult(node=self._select_host(feasible, totals), evaluated=evaluated,
                              feasible=len(feasible))

    def _find_feasible(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], total: int
                       ) -> tuple[list[NodeInfo], dict[str, Status], int]:
        want = num_feasible_nodes_to_find(total, self.percentage)
        n = len(nodes)
        feasible: list[NodeInfo] = []
        statuses: dict[str, Status] = {}
        start = self.next_start_node_index % n if n else 0
        run_filter = self.framework.run_filter
        nominated = self.nominated
        evaluated = 0
        for i in range(n):
            ni = nodes[(start + i) % n]
            evaluated += 1
            if nominated and ni.name in nominated:
                ni = self._with_nominated(pod, ni)
            st = run_filter(state, pod, ni)
            if st.is_success():
                feasible.append(ni)
                if len(feasible) >= want:
                    break
            else:
                statuses[ni.name] = st
        self.next_start_node_index = (start + evaluated) % max(n, 1)
        return feasible, statuses, evaluated

    def _with_nominated(self, pod: PodInfo, ni: NodeInfo) -> NodeInfo:
        """``ni`` as if the pods nominated to it (of at least this pod's priority)
        were already there: the room preemption made is kept for them."""
        others = [p for k, p in self.nominated[ni.name].items() if k != pod.key and p.priority >= pod.priority]
        if not others:
            return ni
        c = ni.clone()
        for p in others:
            c.add_pod(p)
        return c

    def nominate(self, pod: PodInfo, node: str | None) -> None:
        """Record (or with None, clear) where ``pod`` is nominated to go."""
        old = self._nominated_node.pop(pod.key, None)
        if old is not None:
            pods = self.nominated.get(old, {})
            pods.pop(pod.key, None)
            if not pods:
                self.nominated.pop(old, None)
        if node:
            self._nominated_node[pod.key] = node
            self.nominated.setdefault(node, {})[pod.key] = pod

    def _select_host(self, nodes: list[NodeInfo], totals: list[int]) -> str:
        best, best_score, seen = nodes[0].name, totals[0], 1
        for ni, s in zip(nodes[1:], totals[1:]):
            if s > best_score:
                best, best_score, seen = ni.name, s, 1
            elif s == best_score:
                seen += 1
                if self.rng.randrange(seen) == 0:  # reservoir sampling among ties
                    best = ni.name
        return best

    # ------------------------------------------------------------ one pod
    async def schedule_one(self, q: QueuedPodInfo) -> ScheduleResult:
        pod = q.pod_info
        state = CycleState()
        started = self.clock()
        result = self.schedule_pod(pod, state)
        self.metrics.observe(self.clock() - started)
        if result.node is None:
            await self._failed(q, state, result)
            return result
        self.cache.assume_pod(pod, result.node)
        self.nominate(pod, None)
        st = self.framework.run_reserve(state, pod, result.node)
        if not st.is_success():
            self.cache.forget_pod(pod.key)
            self.metrics.attempts["error"] += 1
            self.queue.requeue_after_error(q)
            return result
        permit, wait = self.framework.run_permit(state, pod, result.node)
        if permit.code not in (Code.SUCCESS, Code.WAIT):
            self.framework.run_unreserve(state, pod, result.node)
            self.cache.forget_pod(pod.key)
            self.metrics.attempts["unschedulable"] += 1
            self.queue.add_unschedulable(q, [permit.plugin])
            return result
        self.metrics.attempts["scheduled"] += 1
        await self._bind_slots.acquire()
        task = asyncio.get_running_loop().create_task(self._bind(q, state, result.node))
        self._binding.add(task)
        task.add_done_callback(self._binding.discard)
        return result

    async def _failed(self, q: QueuedPodInfo, state: CycleState, result: ScheduleResult) -> None:
        pod = q.pod_info
        if result.status.code == Code.ERROR:
            self.metrics.attempts["error"] += 1
            self.queue.requeue_after_error(q)
            return
        self.metrics.attempts["unschedulable"] += 1
        if self.framework.has("post_filter") and result.statuses:
            pf, st = self.framework.run_post_filter(state, pod, result.statuses)
            if st.is_success() and pf is not None:
                result.post_filter = pf
                self.metrics.preemptions += 1
                self.nominate(pod, pf.nominated_node_name)
                if self.on_preempt is not None:
                    await self.on_preempt(pod.pod, pf)
            elif st.reasons:
                result.message += " " + st.message()
        rejected = {s.plugin for s in result.statuses.values() if s.plugin}
        if result.status.plugin:
            rejected.add(result.status.plugin)
        self.queue.add_unschedulable(q, rejected)
        if self.on_unschedulable is not None:
            await self.on_unschedulable(pod.pod, result.message)

    async def _bind(self, q: QueuedPodInfo, state: CycleState, node: str) -> None:
        pod = q.pod_info
        try:
            st = self.framework.run_pre_bind(state, pod, node)
            if not st.is_success():
                raise RuntimeError(f"PreBind {st.plugin}: {st.message()}")
            await self.binder.bind(pod.pod, node)
        except Exception as e:  # noqa: BLE001 - any failure: forget and retry
            log.info("binding %s to %s failed: %s", pod.key, node, e)
            self.framework.run_unreserve(state, pod, node)
            self.cache.forget_pod(pod.key)
            self.metrics.attempts["error"] += 1
            self.queue.requeue_after_error(q)
        else:
            self.cache.finish_binding(pod.key)
            self.queue.done(pod.key)
            self.metrics.scheduled += 1
        finally:
            self._bind_slots.release()

    async def wait_for_bindings(self) -> None:
        while self._binding:
            await asyncio.gather(*list(self._binding), return_exceptions=True)

    async def run(self, stop: asyncio.Event, flush_interval: float = 1.0) -> None:
        """Schedule until ``stop`` is set."""
        last_flush = self.clock()
        while not stop.is_set():
            q = await self.queue.pop(timeout=flush_interval)
            if q is None and self.queue.closed:
                break
            now = self.clock()
            if now - last_flush >= flush_interval or q is None:
                self.queue.flush()
                self.cache.cleanup_expired()
                last_flush = now
            if q is None:
                continue
            try:
                await self.schedule_one(q)
            except Exception:  # noqa: BLE001 - one pod's bug must not stop scheduling
                log.exception("scheduling %s failed", q.key)
                self.queue.requeue_after_error(q)
        await self.wait_for_bindings()

    # --------------------------------------------------- informer events
    def on_pod(self, event: str, pod: dict) -> None:
        """Feed a pod watch event (ADDED / MODIFIED / DELETED)."""
        key = pod_key(pod)
        spec = pod.get("spec") or {}
        terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if event == "DELETED" or terminal:
            self.queue.delete(key)
            if key in self._nominated_node:
                self.nominate(PodInfo.of(pod), None)
            if self.cache.pod_node(key) is not None:
                self.cache.remove_pod(key)
                self.queue.on_event(ClusterEvent("Pod", "Delete"))
            return
        if spec.get("nodeName"):  # bound (by us or anyone): no longer pending
            self.queue.delete(key)
            self.cache.add_pod(pod)
            return
        if "deletionTimestamp" in (pod.get("metadata") or {}):
            self.queue.delete(key)
            return
        if spec.get("schedulingGates"):  # SchedulingGates: not queued until its gates are gone
            self.queue.delete(key)
            return
        if spec.get("schedulerName", "default-scheduler") != self.framework.profile.scheduler_name:
            return  # another scheduler's pod
        info = PodInfo.of(pod)
        if event == "ADDED":
            self.queue.add(info)
        else:
            self.queue.update(info)

    def on_node(self, event: str, node: dict) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        if event == "DELETED":
            self.cache.remove_node(name)
            return
        self.cache.add_node(node)
        self.queue.on_event(ClusterEvent("Node", "Add" if event == "ADDED" else "Update"))
