"""Hollow node pools (as kubemark and KWOK do): many kubelets in one
process, each with the ``sim`` runtime in-process, sharing one pod watch
(events are routed by ``spec.nodeName``) and one set of periodic loops that
renew every node's Lease and post node statuses in bounded batches — so a
thousand nodes cost one watch and a few tasks, not thousands."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Awaitable, Callable

from kubeapi.informer import DeletedFinalStateUnknown, SharedInformer

from ..cri.images import ImageStore
from ..cri.programs.simctx import LocalNetwork
from ..cri.sim import SimRuntime
from .ipam import PodIPAM
from .kubelet import Kubelet, KubeletConfig, Prober, every
from .node import NodeConfig

BATCH = 64  # concurrent API calls per periodic round


class NodePool:
    def __init__(self, client: Any, names: list[str], *, template: KubeletConfig | None = None,
                 clock: Callable[[], float] = time.time, batch: int = BATCH) -> None:
        """``template``: the kubelet settings every node shares (its node
        name is replaced by each of ``names``)."""
        self.client = client
        self.template = template or KubeletConfig(NodeConfig("template"))
        self.batch = batch
        self.network = LocalNetwork()  # pods of the pool reach each other in-process
        self.pods = SharedInformer(client, "pods")
        self.kubelets: dict[str, Kubelet] = {}
        for name in names:
            images = ImageStore()
            ipam = PodIPAM()
            runtime = SimRuntime(images, network=self.network, allocate_ip=ipam.allocate, release_ip=ipam.release)
            cfg = dataclasses.replace(self.template, node=dataclasses.replace(self.template.node, name=name))
            self.kubelets[name] = Kubelet(cfg, client, runtime, images, prober=Prober(runtime, self.network),
                                          ipam=ipam, pods=self.pods, clock=clock)
        self.pods.add_event_handler(self._on_add, self._on_update, self._on_delete)

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
                 asyncio.create_task(every(t.renew_interval, lambda: self._each(lambda k: k.renew_lease()), stop)),
                 asyncio.create_task(every(t.status_interval, lambda: self._each(lambda k: k.post_node_status()),
                                           stop)),
                 asyncio.create_task(every(t.relist_period, lambda: self._each(lambda k: k.relist()), stop))]
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
