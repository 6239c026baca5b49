"""Scheduler throughput, modeled on upstream's scheduler_perf.

Creates N nodes (Node objects only, no kubelets) and M pods, then measures
pods scheduled per second (average and per-second samples) and the
scheduling attempt latency percentiles. Two modes:

* ``core`` — the pure scheduler in-process: informer events fed directly,
  bindings applied straight to its cache (what the algorithm costs);
* ``actor`` — the full path on Ray: a 3-member raftstore, an apiserver, the
  scheduler actor with its informers, bindings through ``pods/binding``.

    python -m benchmarks.scheduler_perf [--quick] [--mode core|actor|both] [--case NAME] [--json PATH]

Upstream's CI thresholds: 270 pods/s for SchedulingBasic 5000 nodes / 10000
pods and 85 pods/s for TopologySpreading 5000 / 5000.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from benchmarks.etcd_compare import percentile

ZONES = ("zone-a", "zone-b", "zone-c")
PRIORITY_CLASSES = {1: "perf-low", 1000: "perf-high"}


@dataclass(frozen=True)
class Case:
    name: str
    nodes: int
    init_pods: int  # placed before measuring (bound up front)
    pods: int  # measured
    pod: Callable[[int], dict]
    init_pod: Callable[[int], dict] | None = None
    unschedulable: int = 0  # of the measured pods, how many can never fit


def node(i: int) -> dict:
    """upstream's node-default: 4 CPU, 32 GiB, 110 pods, spread over three zones."""
    name = f"node-{i}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "topology.kubernetes.io/zone": ZONES[i % len(ZONES)]}},
            "status": {"capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str, *, cpu: str = "100m", memory: str = "500Mi", priority: int | None = None,
         labels: dict | None = None, extra: dict | None = None) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                            "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
                            "schedulerName": "default-scheduler"}
    if priority is not None:  # the class admission resolves (set here too for the core mode)
        spec["priority"] = priority
        spec["priorityClassName"] = PRIORITY_CLASSES[priority]
    spec.update(extra or {})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "sched-perf", "labels": labels or {"app": "perf"}},
            "spec": spec}


def basic_pod(i: int) -> dict:
    return _pod(f"pod-{i}")


def spread_pod(i: int) -> dict:
    return _pod(f"spread-{i}", labels={"app": "spread"}, extra={"topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": {"app": "spread"}}}]})


def low_pod(i: int) -> dict:
    # no kubelets run here to finish a graceful termination: victims go at once
    return _pod(f"low-{i}", cpu="900m", memory="4Gi", priority=1, extra={"terminationGracePeriodSeconds": 0})


def high_pod(i: int) -> dict:
    return _pod(f"high-{i}", cpu="3", memory="4Gi", priority=1000)


def mixed_pod(i: int, unschedulable_every: int = 5) -> dict:
    if i % unschedulable_every == 0:
        return _pod(f"huge-{i}", cpu="64")  # fits nowhere
    return _pod(f"pod-{i}")


CASES = {
    "SchedulingBasic/500Nodes": Case("SchedulingBasic/500Nodes", 500, 0, 1000, basic_pod),
    "SchedulingBasic/5000Nodes": Case("SchedulingBasic/5000Nodes", 5000, 0, 10000, basic_pod),
    "TopologySpreading/5000Nodes": Case("TopologySpreading/5000Nodes", 5000, 0, 5000, spread_pod),
    "Preemption/500Nodes": Case("Preemption/500Nodes", 500, 2000, 500, high_pod, low_pod),
    "Unschedulable/500Nodes": Case("Unschedulable/500Nodes", 500, 0, 1000, mixed_pod, unschedulable=200),
}
QUICK = {"SchedulingBasic/500Nodes": (50, 100), "SchedulingBasic/5000Nodes": (200, 300),
         "TopologySpreading/5000Nodes": (150, 150), "Preemption/500Nodes": (20, 20),
         "Unschedulable/500Nodes": (30, 60)}


def scaled(case: Case, nodes: int, pods: int) -> Case:
    never = sum(1 for i in range(pods) if case.pod(i)["metadata"]["name"].startswith("huge-"))
    return Case(case.name, nodes, int(case.init_pods * nodes / case.nodes), pods, case.pod, case.init_pod, never)


def _summary(case: Case, mode: str, done: list[float], started: float, latencies: list[float],
             extra: dict | None = None) -> dict[str, Any]:
    done = sorted(done)
    wall = (done[-1] - started) if done else 0.0
    samples: list[int] = []
    if done:
        t = started
        i = 0
        while t < done[-1]:
            n = 0
            while i < len(done) and done[i] < t + 1.0:
                n += 1
                i += 1
            samples.append(n)
            t += 1.0
    lat = sorted(latencies)
    out = {"case": case.name, "mode": mode, "nodes": case.nodes, "init_pods": case.init_pods,
           "pods": case.pods, "scheduled": len(done), "seconds": round(wall, 3),
           "pods_per_s": round(len(done) / wall, 1) if wall > 0 else 0.0,
           "per_second_samples": samples,
           "attempt_p50_ms": round(percentile(lat, 50) * 1e3, 3) if lat else 0.0,
           "attempt_p90_ms": round(percentile(lat, 90) * 1e3, 3) if lat else 0.0,
           "attempt_p99_ms": round(percentile(lat, 99) * 1e3, 3) if lat else 0.0}
    out.update(extra or {})
    return out


# ------------------------------------------------------------------- core mode
async def run_core(case: Case, *, timeout: float = 600.0) -> dict[str, Any]:
    """The pure scheduler: informer events and bindings in-process."""
    from actors.scheduler.plugins import REGISTRY, default_profile
    from actors.scheduler.scheduler import Scheduler

    bound_at: list[float] = []
    victims: list[str] = []
    sched: Scheduler

    class Binder:
        async def bind(self, pod: dict, node_name: str) -> None:
            bound = dict(pod, spec=dict(pod["spec"], nodeName=node_name))
            sched.on_pod("MODIFIED", bound)
            if pod["metadata"]["name"].startswith(("pod-", "spread-", "high-")):
                bound_at.append(time.perf_counter())

    async def preempt(pod: dict, result: Any) -> None:
        for v in result.victims:
            victims.append(v.key)
            sched.on_pod("DELETED", v.pod)

    sched = Scheduler(default_profile(), REGISTRY, Binder(), on_preempt=preempt)
    for i in range(case.nodes):
        sched.on_node("ADDED", node(i))
    for i in range(case.init_pods):  # placed round robin, as upstream's init pods are already bound
        p = case.init_pod(i)  # type: ignore[misc]
        p["spec"]["nodeName"] = f"node-{i % case.nodes}"
        sched.on_pod("ADDED", p)
    stop = asyncio.Event()
    runner = asyncio.create_task(sched.run(stop, flush_interval=0.2))
    want = case.pods - case.unschedulable
    started = time.perf_counter()
    for i in range(case.pods):
        sched.on_pod("ADDED", case.pod(i))
    deadline = started + timeout
    while len(bound_at) < want and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    sched.queue.close()
    await runner
    return _summary(case, "core", bound_at, started, sched.metrics.latencies,
                    {"preempted": len(victims), "attempts": sched.metrics.attempts})


# ------------------------------------------------------------------ actor mode
async def _create_all(client: Any, objs: list[dict], concurrency: int = 64) -> None:
    it = iter(objs)

    async def worker() -> None:
        for obj in it:
            await client.create(obj)
    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_actor(case: Case, apiservers: list[Any], scheduler: Any, *, timeout: float = 900.0) -> dict[str, Any]:
    """The full path: objects created through the apiserver, the scheduler actor
    binding through it; a watch records when each measured pod got its node."""
    from actors.apiserver.transport import RayTransport
    from kubeapi.client import Client

    client = Client(RayTransport(apiservers))
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sched-perf"}})
    for value, name in PRIORITY_CLASSES.items():
        await client.create({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                             "metadata": {"name": name}, "value": value})

    def admitted(p: dict) -> dict:  # the apiserver's Priority admission fills spec.priority in
        p["spec"].pop("priority", None)
        return p
    await _create_all(client, [node(i) for i in range(case.nodes)])
    init = []
    for i in range(case.init_pods):
        p = case.init_pod(i)  # type: ignore[misc]
        p["spec"]["nodeName"] = f"node-{i % case.nodes}"
        init.append(admitted(p))
    await _create_all(client, init)
    before = await scheduler.status.remote()
    base = (before.get("metrics") or {}).get("scheduled", 0)
    rv = (await client.list("pods", "sched-perf", limit=1))["metadata"]["resourceVersion"]
    bound_at: dict[str, float] = {}
    want = case.pods - case.unschedulable
    prefixes = ("pod-", "spread-", "high-")

    def seen(o: dict, deleted: bool = False) -> bool:
        name = o["metadata"]["name"]
        if not deleted and (o.get("spec") or {}).get("nodeName") and name.startswith(prefixes):
            bound_at.setdefault(name, time.perf_counter())
        return len(bound_at) >= want

    async def watch() -> None:
        since = rv
        while True:  # as an informer does: a watch that ends in an ERROR (410) re-lists and watches again
            async for ev in client.watch("pods", "sched-perf", resource_version=since, timeout_seconds=timeout):
                if ev["type"] == "ERROR":
                    break
                if seen(ev["object"], ev["type"] == "DELETED"):
                    return
            listed = await client.list("pods", "sched-perf")
            if any([seen(o) for o in listed["items"]]):
                return
            since = listed["metadata"]["resourceVersion"]
    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    await _create_all(client, [admitted(case.pod(i)) for i in range(case.pods)])
    try:
        await asyncio.wait_for(watcher, timeout)
    except asyncio.TimeoutError:
        pass
    for _ in range(100):  # a bind's event may reach the watch before the scheduler counts it
        st = await scheduler.status.remote()
        m = st.get("metrics") or {}
        if m.get("scheduled", 0) - base >= len(bound_at):
            break
        await asyncio.sleep(0.05)
    lat = m.get("latency_percentiles_ms") or {}
    out = _summary(case, "actor", list(bound_at.values()), started, [],
                   {"attempts": m.get("attempts"), "preemptions": m.get("preemptions"),
                    "scheduled_by_scheduler": m.get("scheduled", 0) - base})
    out.update({"attempt_p50_ms": lat.get("p50", 0.0), "attempt_p90_ms": lat.get("p90", 0.0),
                "attempt_p99_ms": lat.get("p99", 0.0)})
    return out


def run_actor_standalone(case: Case) -> dict[str, Any]:
    """Start a local Ray and a control plane for one case, run it, tear it down."""
    from actors.apiserver.actor import start_apiservers
    from actors.scheduler.actor import start_schedulers
    from benchmarks.local_plane import local_plane

    with local_plane("benchsched") as (etcd, handles, base):
        apis = start_apiservers(1, etcd.name, first_index=base)
        handles += apis
        handles += start_schedulers(1, first_index=base, apiservers=apis, events=False)
        return asyncio.run(run_actor(case, apis, handles[-1]))


# ------------------------------------------------------------------- table
def format_table(results: list[dict[str, Any]]) -> str:
    head = f"{'case':<30}{'mode':<7}{'nodes':>7}{'pods':>7}{'sched':>7}{'pods/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(f"{r['case']:<30}{r['mode']:<7}{r['nodes']:>7}{r['pods']:>7}{r['scheduled']:>7}"
                    f"{r['pods_per_s']:>9.1f}{r['attempt_p50_ms']:>9.2f}{r['attempt_p99_ms']:>9.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scheduler_perf", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--mode", choices=("core", "actor", "both"), default="core")
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="run only these cases")
    ap.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    a = ap.parse_args(argv)
    cases = [CASES[c] for c in (a.case or CASES)]
    if a.quick:
        cases = [scaled(c, *QUICK[c.name]) for c in cases]
    results = []
    for c in cases:
        if a.mode in ("core", "both"):
            results.append(asyncio.run(run_core(c)))
            print(format_table(results[-1:]).splitlines()[-1], file=sys.stderr)
        if a.mode in ("actor", "both"):
            results.append(run_actor_standalone(c))
            print(format_table(results[-1:]).splitlines()[-1], file=sys.stderr)
    print(format_table(results))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"benchmark": "scheduler_perf", "results": results, "cpu_count": os.cpu_count()}, f,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
