"""The cluster DNS addon on Ray: one actor (``cluster-dns``) watching
Services and EndpointSlices, answering every pod's lookups (its resolver
sends the whole search in one call), behind the ``kube-system/kube-dns``
Service it creates with the cluster DNS address."""
from __future__ import annotations

import asyncio
import os
from typing import Any

import ray

from kubeapi.client import Client
from netsim.addresses import CLUSTER_DNS_IP
from netsim.dns import ResolveResult, ResolverConfig, resolve

from ...apiserver.actor import NAMESPACE
from ...apiserver.transport import RayTransport
from ...proxy.remote import DNS_ACTOR
from .server import ClusterDNS, ensure_kube_dns_service


class ClusterDNSActor:
    def __init__(self, apiservers: list[Any], cluster_ip: str = CLUSTER_DNS_IP) -> None:
        self.client = Client(RayTransport(apiservers or None))
        self.dns = ClusterDNS()
        self.cluster_ip = cluster_ip
        self.stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        await asyncio.gather(self.dns.run(self.client, self.stop), self._service())

    async def _service(self) -> None:
        """kube-dns, retried until the apiserver takes it (it may still be starting)."""
        while not self.stop.is_set():
            try:
                await ensure_kube_dns_service(self.client, self.cluster_ip)
                return
            except Exception:  # noqa: BLE001 - not up yet: try again
                await asyncio.sleep(1.0)

    async def resolve(self, name: str, qtype: str, config: ResolverConfig) -> ResolveResult:
        return resolve(self.dns.lookup, name, qtype, config)

    async def query(self, name: str, qtype: str = "A") -> dict:
        return self.dns.query(name, qtype)

    async def status(self) -> dict:
        return {**self.dns.stats(), "cluster_ip": self.cluster_ip, "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id()}


def start_cluster_dns(apiservers: list[Any], cluster_ip: str = CLUSTER_DNS_IP) -> Any:
    handle = ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=1000)(ClusterDNSActor).options(
        name=DNS_ACTOR, namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote(
            list(apiservers), cluster_ip)
    ray.get(handle.status.remote(), timeout=60)
    return handle
