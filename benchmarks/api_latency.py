"""Latency of mutating API calls through the apiserver's Ray transport.

64 concurrent callers create pods (single-object mutating calls, the kind
Kubernetes' SLO covers: p99 <= 1 s) against a control plane on Ray: a
3-member raftstore and apiserver replicas. Prints a table and, with --json,
writes the figures.

    python -m benchmarks.api_latency [--quick] [--http] [--apiservers N] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from benchmarks.etcd_compare import percentile

QUICK = {"creates": 500, "concurrency": 64}
FULL = {"creates": 5000, "concurrency": 64}
SLO_P99_S = 1.0


def _pod(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"bench-{i}", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "registry.local/pause:3.9"}]}}


def ray_clients(apiservers: list[Any]) -> list[Any]:
    """One client per apiserver replica over the Ray transport."""
    from actors.apiserver.transport import RayTransport
    from kubeapi.client import Client
    return [Client(RayTransport([h])) for h in apiservers]


def http_clients(apiservers: list[Any]) -> list[Any]:
    """One client per apiserver replica over HTTPS, with the admin token."""
    import ray

    from kubeapi.client import Client
    from kubeapi.httptransport import HTTPTransport
    out = []
    for h in apiservers:
        cc = ray.get(h.client_config.remote(), timeout=30)
        out.append(Client(HTTPTransport(cc["url"], token=cc["token"], ca_pem=cc["ca"])))
    return out


async def run_creates(clients: list[Any], creates: int, concurrency: int,
                      namespace: str = "bench") -> dict[str, Any]:
    """Create ``creates`` pods with ``concurrency`` callers spread round robin
    over ``clients`` (:class:`kubeapi.client.Client`, one per apiserver
    replica); every call must succeed."""
    from kubeapi.errors import ApiError

    await clients[0].create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    lat: list[float] = []
    failures: list[Any] = []
    next_i = 0

    async def caller(c: int) -> None:
        nonlocal next_i
        client = clients[c % len(clients)]
        while next_i < creates:
            i = next_i
            next_i += 1
            t0 = time.perf_counter()
            try:
                await client.create(_pod(i), namespace)
            except ApiError as e:
                failures.append(str(e))
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(concurrency)))
    wall = time.perf_counter() - t0
    if failures:
        raise RuntimeError(f"{len(failures)} creates failed; first: {failures[0]}")
    lat.sort()
    for c in clients:
        close = getattr(c.transport, "close", None)
        if close is not None:
            await close()
    return {"creates": creates, "concurrency": concurrency, "apiservers": len(clients),
            "seconds": wall, "creates_per_s": creates / wall,
            "p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3,
            "max_ms": lat[-1] * 1e3, "slo_p99_ok": percentile(lat, 99) <= SLO_P99_S}


def format_table(r: dict[str, Any]) -> str:
    rows = [("transport", r.get("transport", "ray")), ("creates", f"{r['creates']:,}"), ("concurrent callers", str(r["concurrency"])),
            ("apiserver replicas", str(r["apiservers"])), ("creates/s", f"{r['creates_per_s']:,.0f}"),
            ("p50 latency", f"{r['p50_ms']:.1f} ms"), ("p99 latency", f"{r['p99_ms']:.1f} ms"),
            ("max latency", f"{r['max_ms']:.1f} ms"),
            ("SLO p99 <= 1 s", "met" if r["slo_p99_ok"] else "MISSED")]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.api_latency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run (seconds)")
    ap.add_argument("--apiservers", type=int, default=1)
    ap.add_argument("--http", action="store_true", help="call over HTTPS instead of the Ray transport")
    ap.add_argument("--creates", type=int, help="override the number of creates")
    ap.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    a = ap.parse_args(argv)
    if a.apiservers < 1:
        ap.error("--apiservers must be at least 1")
    sizes = dict(QUICK if a.quick else FULL)
    if a.creates:
        sizes["creates"] = a.creates
    from actors import pki
    from actors.apiserver.actor import start_apiservers
    from actors.apiserver.auth import MASTERS, UserInfo
    from benchmarks.local_plane import local_plane

    with local_plane("benchapi") as (etcd, handles, base):
        token = pki.new_token()
        apis = start_apiservers(a.apiservers, etcd.name, first_index=base,
                                **(dict(http_port=0, ca=pki.new_ca(), admin_token=token,
                                        tokens={token: UserInfo("bench", (MASTERS,))}) if a.http else {}))
        handles += apis
        res = asyncio.run(run_creates(http_clients(apis) if a.http else ray_clients(apis), **sizes))
        res["transport"] = "https" if a.http else "ray"
    print(format_table(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"benchmark": "api_latency", "sizes": sizes, "result": res,
                       "cpu_count": os.cpu_count()}, f, indent=2)
        print(f"api_latency: wrote {a.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
