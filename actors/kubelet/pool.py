"""Hollow node pools (as kubemark and KWOK do): many kubelets in one
process, each with the ``sim`` runtime in-process, sharing one pod watch
(events are routed by ``spec.nodeName``) and one set of periodic loops that
renew every node's Lease and post node statuses in bounded batches — so a
thousand nodes cost one watch and a few tasks, not thousands.

The pool's nodes share one network host (their pods reach each other
in-process, other nodes' pods over the fabric) and one hollow kube-proxy and
network agent: the Service rules are the same on every node (the per-node
``Local`` policies are applied when a connection is made), so they are
computed and held once."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Awaitable, Callable

from kubeapi.informer import DeletedFinalStateUnknown, SharedInformer

from netsim.host import Fabric, Host, LinkFactory, Resolve
from netsim.pods import PodNetwork
from netsim.services import RANDOM, ServiceTable

from ..cri.images import ImageStore
from ..cri.sim import SimRuntime
from ..proxy.proxier import NETSIM_HOST_ANNOTATION, FabricSync, Proxier
from .kubelet import Kubelet, KubeletConfig, Prober, every
from .node import NodeConfig

BATCH = 64  # concurrent API calls per periodic round


class NodePool:
    def __init__(self, client: Any, names: list[str], *, template: KubeletConfig | None = None,
                 clock: Callable[[], float] = time.time, batch: int = BATCH, addresses: list[str] | None = None,
                 host: str = "pool", links: LinkFactory | None = None, resolve: Resolve | None = None,
                 proxy_mode: str = RANDOM, overlay: bool = True) -> None:
        """``template``: the kubelet settings every node shares (its node
        name is replaced by each of ``names``, its address by the matching
        one of ``addresses``). ``host`` names the pool's network host (the
        actor other hosts reach it through ``links``); ``resolve`` is the
        pods' DNS; ``overlay``: pod CIDR routes from the Nodes, else from the cloud."""
        self.client = client
        self.template = template or KubeletConfig(NodeConfig("template"))
        self.batch = batch
        self.host = Host(host, Fabric(), services=ServiceTable(mode=proxy_mode), resolve=resolve, links=links)
        self.pods = SharedInformer(client, "pods")
        self.kubelets: dict[str, Kubelet] = {}
        for i, name in enumerate(names):
            images = ImageStore()
            node = dataclasses.replace(self.template.node, name=name,
                                       node_ip=addresses[i] if addresses else self.template.node.node_ip,
                                       annotations={**self.template.node.annotations, NETSIM_HOST_ANNOTATION: host})
            self.host.add_node(name, (node.node_ip,))
            network = PodNetwork(self.host, name)
            runtime = SimRuntime(images, network=network)
            cfg = dataclasses.replace(self.template, node=node)
            self.kubelets[name] = Kubelet(cfg, client, runtime, images, prober=Prober(runtime, network),
                                          pods=self.pods, clock=clock)
        self.pods.add_event_handler(self._on_add, self._on_update, self._on_delete)
        # the hollow kube-proxy and network agent of every node of the pool
        self.services = SharedInformer(client, "services")
        self.slices = SharedInformer(client, "endpointslices")
        self.nodes = SharedInformer(client, "nodes")
        self.proxier = Proxier(self.services.indexer, self.slices.indexer, self.host)
        self.services.add_event_handler(self.proxier.on_service, self.proxier.on_service, self.proxier.on_service)
        self.slices.add_event_handler(self.proxier.on_slice, self.proxier.on_slice, self.proxier.on_slice)
        self.fabric_sync = FabricSync(self.nodes.indexer, self.host, overlay=overlay)
        self.nodes.add_event_handler(self.fabric_sync.on_node, self.fabric_sync.on_node, self.fabric_sync.on_node)

    # ------------------------------------------------------------- routing
    def _kubelet(self, pod: Any) -> Kubelet | None:
        if isinstance(pod, DeletedFinalStateUnknown):
            pod = pod.obj
        return self.kubelets.get(((pod or {}).get("spec") or {}).get("nodeName") or "")

    def _on_add(self, pod: dict) -> None:
        k = self._kubelet(pod)
        if k is not None:
            k.on_pod(pod)

    def _on_update(self, old: dict, new: dict) -> None:
        self._on_add(new)

    def _on_delete(self, pod: Any) -> None:
        k = self._kubelet(pod)
        if k is not None:
            k.on_pod_delete(pod)

    # ------------------------------------------------------------- running
    async def _each(self, fn: Callable[[Kubelet], Awaitable[Any]]) -> None:
        """``fn`` for every kubelet, ``batch`` at a time; a failure is the next round's to retry."""
        kubelets = list(self.kubelets.values())
        for i in range(0, len(kubelets), self.batch):
            await asyncio.gather(*(fn(k) for k in kubelets[i:i + self.batch]), return_exceptions=True)

    async def register(self) -> None:
        await self._each(lambda k: k.register())

    async def run(self, stop: asyncio.Event) -> None:
        await self.register()
        t = self.template
        tasks = [asyncio.create_task(self.pods.run(stop)),
                 *(asyncio.create_task(inf.run(stop)) for inf in (self.services, self.slices, self.nodes)),
                 asyncio.create_task(self.proxier.run(1, stop)), asyncio.create_task(self.fabric_sync.run(1, stop)),
                 asyncio.create_task(every(t.renew_interval, lambda: self._each(lambda k: k.renew_lease()), stop)),
                 asyncio.create_task(every(t.status_interval, lambda: self._each(lambda k: k.post_node_status()),
                                           stop)),
                 asyncio.create_task(every(t.relist_period, lambda: self._each(lambda k: k.relist()), stop)),
                 asyncio.create_task(every(t.housekeeping_period, lambda: self._each(lambda k: k.housekeeping()),
                                           stop))]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(k.stop_workers() for k in self.kubelets.values()))
            await asyncio.gather(*(k.runtime.close() for k in self.kubelets.values()), return_exceptions=True)

    def status(self) -> dict:
        workers = sum(len(k.workers) for k in self.kubelets.values())
        return {"nodes": len(self.kubelets), "pods": workers, "informer_pods": len(self.pods.indexer)}
