"""How many hollow nodes this machine holds, and how well: nodes in pools of
``--pool-size`` register, get a pod CIDR and turn Ready; then, for
``--observe`` seconds, with the node lifecycle controller watching, every
node's Lease must stay fresh (the lag: now − renewTime, sampled) and no node
may turn NotReady; finally pods run on them. Reports the time to all-Ready,
the Lease lag (p50/p99/max), NotReady nodes seen, the pools' resident memory
(per node, including the Python process each pool is), API requests/s the
pod startup latency.

    python -m benchmarks.node_scale [--nodes 1000] [--pool-size 1000] [--observe 60] [--pods 200]
        [--lease-duration 40] [--json out.json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import datetime
from typing import Any

from .pod_startup import measure_startup, percentile

CLUSTER_CIDR = "10.224.0.0/11"   # a /24 for each of up to 8192 nodes


def _age(stamp: str, now: float) -> float:
    return now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def observe(apis: list[Any], nodes: int, seconds: float, every: float) -> dict:
    """Sample Lease lag and Ready conditions every ``every`` s for ``seconds``."""
    from actors.apiserver.transport import RayTransport
    from kubeapi.client import Client

    client = Client(RayTransport(apis))
    lags: list[float] = []
    not_ready: set[str] = set()
    samples = 0
    end = time.monotonic() + seconds
    while True:
        now = time.time()
        leases = (await client.list("leases", "kube-node-lease"))["items"]
        lags += [_age(ls["spec"]["renewTime"], now) for ls in leases if (ls.get("spec") or {}).get("renewTime")]
        for n in (await client.list("nodes"))["items"]:
            ready = next((c for c in (n.get("status") or {}).get("conditions") or () if c["type"] == "Ready"), {})
            if ready.get("status") != "True":
                not_ready.add(n["metadata"]["name"])
        samples += 1
        if time.monotonic() >= end:
            break
        await asyncio.sleep(every)
    return {"samples": samples, "leases": len(leases), "lease_lag_p50_s": round(percentile(lags, 50), 2),
            "lease_lag_p99_s": round(percentile(lags, 99), 2), "lease_lag_max_s": round(max(lags, default=0), 2),
            "not_ready_nodes": len(not_ready)}


async def wait_ready(apis: list[Any], nodes: int, timeout: float) -> float:
    """Seconds until ``nodes`` nodes are Ready with a pod CIDR."""
    from actors.apiserver.transport import RayTransport
    from kubeapi.client import Client

    client = Client(RayTransport(apis))
    t0 = time.monotonic()
    while True:
        items = (await client.list("nodes"))["items"]
        ready = sum(1 for n in items if (n.get("spec") or {}).get("podCIDR") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions") or ()))
        if ready >= nodes:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"only {ready} of {nodes} nodes Ready after {timeout}s")
        await asyncio.sleep(max(1.0, nodes / 500))   # a list of thousands of nodes is itself load


def run(nodes: int, pool_size: int, observe_s: float, pods: int, rate: float, timeout: float,
        lease_duration: int = 40, sample_every: float = 10.0) -> dict:
    from actors.apiserver.actor import start_apiservers
    from actors.controllers.manager import Settings, start_controller_managers
    from actors.controllers.nodelifecycle import NodeLifecycleConfig
    from actors.kubelet.kubelet import KubeletConfig
    from actors.kubelet.node import NodeConfig
    from actors.kubelet.actor import start_node_pools
    from actors.scheduler.actor import start_schedulers

    from .local_plane import local_plane
    with local_plane("nodescale") as (etcd, handles, base):
        apis = start_apiservers(1, etcd.name, first_index=base)
        handles += apis
        handles += start_schedulers(1, first_index=base, apiservers=apis, events=False)
        # the node lifecycle controller's grace period follows the Lease duration (40 s for 40 s)
        lifecycle = NodeLifecycleConfig(grace=float(lease_duration))
        handles += start_controller_managers(1, first_index=base, apiservers=apis,
                                             controllers=["nodeipam", "nodelifecycle"],
                                             settings=Settings(cluster_cidr=CLUSTER_CIDR, node_lifecycle=lifecycle))
        template = KubeletConfig(NodeConfig("template"), lease_duration=lease_duration,
                                 renew_interval=lease_duration / 4)
        t0 = time.monotonic()
        pools = start_node_pools(nodes, pool_size=pool_size, first_index=base, apiservers=apis,
                                 prefix=f"hollow{base}", template=template)
        handles += pools
        r = measure_nodes(apis, pools, nodes, observe_s, sample_every, timeout, since=t0)
        startup = asyncio.run(measure_startup(apis, [], pods, rate, timeout)) if pods else None
        return {**r, "pool_size": pool_size, "lease_duration_s": lease_duration, "startup": startup}


def measure_nodes(apis: list[Any], pools: list[Any], nodes: int, observe_s: float, sample_every: float,
                  timeout: float, since: float | None = None) -> dict:
    """Readiness, Lease health, pool memory and API load of ``nodes`` hollow nodes
    in ``pools`` (started at ``since``, a monotonic time)."""
    import ray

    ready_s = asyncio.run(wait_ready(apis, nodes, timeout)) + (time.monotonic() - since if since else 0.0)
    before = ray.get(apis[0].status.remote(), timeout=60)["requests"]
    t1 = time.monotonic()
    health = asyncio.run(observe(apis, nodes, observe_s, sample_every))
    observed = time.monotonic() - t1
    after = ray.get(apis[0].status.remote(), timeout=60)["requests"]
    rss = sum(s["rss_bytes"] for s in ray.get([p.status.remote() for p in pools], timeout=60))
    return {"nodes": nodes, "pools": len(pools), "ready_s": round(ready_s, 1) if since else None, **health,
            "pool_rss_mb": round(rss / 1e6, 1), "rss_per_node_kb": round(rss / nodes / 1e3, 1),
            "api_requests_per_s": round((after - before) / observed, 1)}


def format_table(r: dict) -> str:
    head = (f"{'nodes':>6} {'pools':>5} {'lease s':>7} {'ready s':>8} {'lag p50':>8} {'lag p99':>8} {'lag max':>8} "
            f"{'NotReady':>8} {'pool MB':>8} {'KB/node':>8} {'API req/s':>9}")
    row = (f"{r['nodes']:>6} {r['pools']:>5} {r.get('lease_duration_s', 40):>7} {str(r['ready_s']):>8} {r['lease_lag_p50_s']:>8} {r['lease_lag_p99_s']:>8} "
           f"{r['lease_lag_max_s']:>8} {r['not_ready_nodes']:>8} {r['pool_rss_mb']:>8} {r['rss_per_node_kb']:>8} "
           f"{r['api_requests_per_s']:>9}")
    lines = [head, row]
    s = r.get("startup")
    if s:
        lines.append(f"pods: {s['running']}/{s['pods']} Running at {s['rate']}/s; startup p50 {s['p50_s']} s, "
                     f"p99 {s['p99_s']} s, max {s['max_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.node_scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--pool-size", type=int, default=1000, help="hollow nodes per pool actor")
    ap.add_argument("--observe", type=float, default=60.0, help="seconds of Lease and Ready sampling")
    ap.add_argument("--pods", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0, help="pods created per second")
    ap.add_argument("--lease-duration", type=int, default=40,
                    help="nodeLeaseDurationSeconds: Leases renewed every quarter of it; the node lifecycle "
                         "grace period is the same (default: upstream's %(default)s)")
    ap.add_argument("--sample-every", type=float, default=10.0, help="seconds between Lease/Ready samples")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--json", metavar="PATH")
    a = ap.parse_args(argv)
    r = run(a.nodes, a.pool_size, a.observe, a.pods, a.rate, a.timeout, a.lease_duration, a.sample_every)
    print(format_table(r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"benchmark": "node_scale", **r, "cpu_count": os.cpu_count()}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
