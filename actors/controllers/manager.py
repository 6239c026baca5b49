"""kube-controller-manager as a Ray actor: N replicas, one active through the
Lease ``kube-system/kube-controller-manager``.

The leader builds every enabled controller over one set of shared
informers, waits for them to list, and runs each controller's workers until
it loses the lease; then it drops all state and campaigns again (a new
leader starts from fresh informers, and controllers being level-triggered,
it simply carries on where the old one stopped).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import ray

from kubeapi.client import Client
from kubeapi.informer import SharedInformerFactory
from kubeapi.registry import REGISTRY

from ..apiserver.actor import NAMESPACE
from ..apiserver.transport import RayTransport
from ..election import Campaign, Timing
from .base import Controller
from .deployment import DeploymentController
from .garbagecollector import GarbageCollector
from .nodeipam import NodeIPAMController
from .replicaset import ReplicaSetController

log = logging.getLogger("raykube.controllers")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"


def _replicaset(f: SharedInformerFactory, client: Client) -> Controller:
    rsi, podi = f.informer("replicasets"), f.informer("pods")
    c = ReplicaSetController(rsi.indexer, podi.indexer, client)
    rsi.add_event_handler(c.on_owner, c.on_owner_update, c.on_owner_delete)
    podi.add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
    return c


def _deployment(f: SharedInformerFactory, client: Client) -> Controller:
    di, rsi, podi = f.informer("deployments"), f.informer("replicasets"), f.informer("pods")
    c = DeploymentController(di.indexer, rsi.indexer, podi.indexer, client)
    di.add_event_handler(c.on_deployment, c.on_deployment_update, c.on_deployment_delete)
    rsi.add_event_handler(c.on_rs, c.on_rs_update, c.on_rs_delete)
    podi.add_event_handler(on_delete=c.on_pod_delete)
    return c


# what the garbage collector watches: every stored kind but Events (which nothing owns)
GC_RESOURCES = tuple(r.plural for r in REGISTRY if r.stored and r.plural != "events")


def _garbagecollector(f: SharedInformerFactory, client: Client) -> Controller:
    c = GarbageCollector(client)
    for resource in GC_RESOURCES:
        f.informer(resource).add_event_handler(c.on_add, c.on_update, c.on_delete)
    return c


def _nodeipam(f: SharedInformerFactory, client: Client) -> Controller:
    nodes = f.informer("nodes")
    c = NodeIPAMController(nodes.indexer, client)
    nodes.add_event_handler(c.on_node, c.on_node_update, c.on_node_delete)
    return c


# controller name -> how to build it over the shared informers
CONTROLLERS: dict[str, Callable[[SharedInformerFactory, Client], Controller]] = {
    "deployment": _deployment,
    "garbagecollector": _garbagecollector,
    "nodeipam": _nodeipam,
    "replicaset": _replicaset,
}


def controller_manager_name(index: int) -> str:
    return f"controller-manager-{index}"


@dataclass
class ControllerManagerConfig:
    index: int
    controllers: list[str] = field(default_factory=lambda: list(CONTROLLERS))
    workers: int = 5  # per controller (upstream's --concurrent-*-syncs default)
    timing: Timing = field(default_factory=Timing)
    apiservers: list[Any] = field(default_factory=list)  # handles; empty: find them by name


class ControllerManagerActor:
    def __init__(self, cfg: ControllerManagerConfig) -> None:
        unknown = sorted(set(cfg.controllers) - set(CONTROLLERS))
        if unknown:
            raise ValueError(f"unknown controllers {unknown}; known: {sorted(CONTROLLERS)}")
        self.cfg = cfg
        self.client = Client(RayTransport(cfg.apiservers or None))
        self.started = time.monotonic()
        self.controllers: dict[str, Controller] = {}
        self.campaign = Campaign(self.client, LEASE_NAMESPACE, LEASE_NAME,
                                 f"{controller_manager_name(cfg.index)}_{os.urandom(4).hex()}",
                                 self._lead, cfg.timing)
        self._task = asyncio.get_running_loop().create_task(self.campaign.run_forever())

    async def _lead(self, lost: asyncio.Event) -> None:
        factory = SharedInformerFactory(self.client)
        controllers = {name: CONTROLLERS[name](factory, self.client) for name in self.cfg.controllers}
        self.controllers = controllers
        stop = asyncio.Event()  # the informers' own: set however this term ends
        factory.start(stop)
        try:
            await factory.wait_for_cache_sync(None)
            await asyncio.gather(*(c.run(self.cfg.workers, lost) for c in controllers.values()))
        finally:
            stop.set()
            await factory.shutdown()

    async def status(self) -> dict:
        c = self.campaign
        return {"index": self.cfg.index, "identity": c.identity, "leading": c.leading, "leader": c.leader,
                "terms_led": c.terms, "pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
                "uptime_s": round(time.monotonic() - self.started, 3),
                "controllers": {n: {"syncs": ctl.syncs, "errors": ctl.errors, "queue": len(ctl.queue.core)}
                                for n, ctl in self.controllers.items()}}


def controller_manager_actor_class() -> Any:
    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0,
                      max_concurrency=100)(ControllerManagerActor)


def start_controller_managers(count: int, first_index: int = 1, **cfg: Any) -> list[Any]:
    """Start ``count`` detached controller-manager replicas (one will lead) and wait until they answer."""
    handles = [controller_manager_actor_class().options(
        name=controller_manager_name(i), namespace=NAMESPACE, lifetime="detached").remote(
        ControllerManagerConfig(i, **cfg)) for i in range(first_index, first_index + count)]
    ray.get([h.status.remote() for h in handles], timeout=60)
    return handles
