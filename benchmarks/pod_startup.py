"""Pod startup latency on hollow nodes, and what a hollow node costs.

Startup latency is Kubernetes' SLI: from a pod's creation to its Running
status, as a watch observes it (the SLO: p99 ≤ 5 s). The run brings up
raftstore, an apiserver, a scheduler, a controller manager (node IPAM) and
node pools on a local Ray, creates the pods at a steady rate, and reports
p50/p90/p99. Memory is measured in-process: the bytes a pool holds per
hollow node (its kubelet, sim runtime, image store and IPAM; no pods) by
tracemalloc, over ``--memory-nodes`` nodes.

    python -m benchmarks.pod_startup [--nodes 100] [--pods 1000] [--memory-nodes 1000] [--json out.json]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc
from typing import Any



def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


class _NoAPI:
    """A client that is never called (a pool is measured before it runs)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the memory measurement made an API call: {name}")


def hollow_node_bytes(nodes: int) -> dict:
    """Bytes per hollow node of a pool of ``nodes`` (tracemalloc, after a GC)."""
    from actors.kubelet.pool import NodePool

    async def build() -> dict:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        pool = NodePool(_NoAPI(), [f"hollow-{i}" for i in range(nodes)])
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        held = sum(s.size_diff for s in after.compare_to(before, "filename"))
        assert len(pool.kubelets) == nodes
        return {"nodes": nodes, "bytes_total": held, "bytes_per_node": held // nodes}
    return asyncio.run(build())


async def measure_startup(apis: list[Any], nodes: list[str], pods: int, rate: float, timeout: float) -> dict:
    """Create ``pods`` pods at ``rate``/s; creation → Running as the watch sees it."""
    from actors.apiserver.transport import RayTransport
    from kubeapi import errors
    from kubeapi.client import Client

    client = Client(RayTransport(apis), poll_seconds=0.2)

    async def ready_nodes() -> int:
        items = (await client.list("nodes"))["items"]
        return sum(1 for n in items if (n.get("spec") or {}).get("podCIDR") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions") or ()))
    deadline = time.monotonic() + timeout
    while await ready_nodes() < len(nodes):
        if time.monotonic() > deadline:
            raise TimeoutError("the hollow nodes did not all become Ready with a pod CIDR")
        await asyncio.sleep(0.5)
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "startup"}})
    start_rv = (await client.list("pods", "startup"))["metadata"]["resourceVersion"]
    created: dict[str, float] = {}
    running: dict[str, float] = {}
    done = asyncio.Event()

    def seen(obj: dict) -> None:
        name = obj["metadata"]["name"]
        if name not in running and (obj.get("status") or {}).get("phase") == "Running":
            running[name] = time.time()
            if len(running) == pods:
                done.set()

    async def watch() -> None:
        rv = start_rv
        while not done.is_set():
            try:
                async for ev in client.watch("pods", "startup", resource_version=rv, timeout_seconds=30):
                    rv = ev["object"]["metadata"].get("resourceVersion", rv)
                    seen(ev["object"])
                    if done.is_set():
                        return
            except errors.ApiError:  # fell behind the watch window (410 Gone): list, then watch on
                listed = await client.list("pods", "startup")
                for obj in listed["items"]:
                    seen(obj)
                rv = listed["metadata"]["resourceVersion"]
    watcher = asyncio.create_task(watch())

    async def create(i: int) -> None:
        # creationTimestamp has second resolution: the client's clock just before the create is finer
        created[f"p-{i}"] = time.time()
        await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i}", "namespace": "startup"},
                             "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}})
    t0 = time.monotonic()
    pending = []
    for i in range(pods):
        pending.append(asyncio.create_task(create(i)))
        await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
    await asyncio.gather(*pending)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        watcher.cancel()
    lat = [running[n] - created[n] for n in running]
    wall = time.monotonic() - t0
    return {"pods": pods, "nodes": len(nodes), "rate": rate, "running": len(running), "wall_s": round(wall, 2),
            "p50_s": round(percentile(lat, 50), 3), "p90_s": round(percentile(lat, 90), 3),
            "p99_s": round(percentile(lat, 99), 3), "max_s": round(max(lat) if lat else 0.0, 3)}


def run_standalone(nodes: int, pods: int, rate: float, timeout: float) -> dict:
    from actors.controllers.manager import start_controller_managers
    from actors.kubelet.actor import start_node_pools
    from actors.kubelet.kubelet import KubeletConfig
    from actors.kubelet.node import NodeConfig
    from actors.apiserver.actor import start_apiservers
    from actors.scheduler.actor import start_schedulers

    from .local_plane import local_plane
    with local_plane("podstart") as (etcd, handles, base):
        apis = start_apiservers(1, etcd.name, first_index=base)
        handles += apis
        handles += start_schedulers(1, first_index=base, apiservers=apis, events=False)
        handles += start_controller_managers(1, first_index=base, apiservers=apis, controllers=["nodeipam"])
        template = KubeletConfig(NodeConfig("t"), status_interval=2.0, relist_period=1.0)
        handles += start_node_pools(nodes, first_index=base, apiservers=apis, template=template,
                                    prefix=f"hollow{base}")
        return asyncio.run(measure_startup(apis, [f"hollow{base}-{i}" for i in range(nodes)], pods, rate, timeout))


def format_table(startup: dict | None, memory: dict | None) -> str:
    lines = []
    if startup:
        lines += [f"{'nodes':>6} {'pods':>6} {'rate/s':>7} {'running':>8} {'p50 s':>7} {'p90 s':>7} {'p99 s':>7} "
                  f"{'max s':>7} {'wall s':>7}",
                  f"{startup['nodes']:>6} {startup['pods']:>6} {startup['rate']:>7} {startup['running']:>8} "
                  f"{startup['p50_s']:>7} {startup['p90_s']:>7} {startup['p99_s']:>7} {startup['max_s']:>7} "
                  f"{startup['wall_s']:>7}"]
    if memory:
        lines += [f"hollow node memory: {memory['bytes_per_node']} bytes/node over {memory['nodes']} nodes "
                  f"({memory['bytes_total'] / 1e6:.1f} MB)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pod_startup", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0, help="pods created per second")
    ap.add_argument("--memory-nodes", type=int, default=1000, help="hollow nodes for the memory figure (0: skip)")
    ap.add_argument("--no-startup", action="store_true", help="only the memory figure (no Ray)")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--json", metavar="PATH")
    a = ap.parse_args(argv)
    memory = hollow_node_bytes(a.memory_nodes) if a.memory_nodes else None
    startup = None if a.no_startup else run_standalone(a.nodes, a.pods, a.rate, a.timeout)
    print(format_table(startup, memory))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"benchmark": "pod_startup", "startup": startup, "memory": memory,
                       "cpu_count": os.cpu_count()}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
