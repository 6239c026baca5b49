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
from .daemonset import DaemonSetController
from .deployment import DeploymentController
from .endpoints import EndpointsController
from .endpointslice import EndpointSliceController
from .garbagecollector import GarbageCollector
from .job import JobController, TTLAfterFinishedController
from .namespace import NamespaceController
from .nodeipam import DEFAULT_CLUSTER_CIDR, NodeIPAMController
from .nodelifecycle import NodeLifecycleConfig, NodeLifecycleController
from .podgc import PodGCController
from .replicaset import ReplicaSetController
from .serviceaccount import RootCACertPublisher, ServiceAccountController
from .statefulset import StatefulSetController
from .tainteviction import TaintEvictionController

log = logging.getLogger("raykube.controllers")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"


@dataclass
class Settings:
    """What the controllers take from the controller manager's flags."""

    node_lifecycle: NodeLifecycleConfig = field(default_factory=NodeLifecycleConfig)
    terminated_pod_gc_threshold: int = 12500
    pod_gc_period: float = 20.0
    pod_gc_quarantine: float = 40.0
    namespace_recheck: float = 2.0
    root_ca: str = ""  # the cluster CA (PEM) published to every namespace; none: not published
    cluster_cidr: str = DEFAULT_CLUSTER_CIDR  # nodes' pod CIDRs (/24s) come from it (--cluster-cidr)


Builder = Callable[[SharedInformerFactory, Client, Settings], Controller | None]  # None: not configured


def _pod_owner(kind: str, make: Callable[..., Controller], *others: str) -> Builder:
    """A pod-owning workload controller over its owners', the pods' (and ``others``') informers."""
    def build(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
        owners, pods = f.informer(kind), f.informer("pods")
        c = make(owners.indexer, pods.indexer, *(f.informer(o).indexer for o in others), client)
        owners.add_event_handler(c.on_owner, c.on_owner_update, c.on_owner_delete)
        pods.add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
        for o in others:
            f.informer(o).add_event_handler(c.on_node_add, c.on_node_update, c.on_node_delete)
        return c
    return build


def _deployment(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
    di, rsi, podi = f.informer("deployments"), f.informer("replicasets"), f.informer("pods")
    c = DeploymentController(di.indexer, rsi.indexer, podi.indexer, client)
    di.add_event_handler(c.on_deployment, c.on_deployment_update, c.on_deployment_delete)
    rsi.add_event_handler(c.on_rs, c.on_rs_update, c.on_rs_delete)
    podi.add_event_handler(on_delete=c.on_pod_delete)
    return c


# what the garbage collector watches: every stored kind but Events (which nothing owns)
GC_RESOURCES = tuple(r.plural for r in REGISTRY if r.stored and r.plural != "events")


def _garbagecollector(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
    c = GarbageCollector(client)
    for resource in GC_RESOURCES:
        f.informer(resource).add_event_handler(c.on_add, c.on_update, c.on_delete)
    return c


def _nodeipam(f: SharedInformerFactory, client: Client, settings: Settings) -> Controller:
    nodes = f.informer("nodes")
    c = NodeIPAMController(nodes.indexer, client, cluster_cidr=settings.cluster_cidr)
    nodes.add_event_handler(c.on_node, c.on_node_update, c.on_node_delete)
    return c


def _endpoints(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
    svc, pods, eps = f.informer("services"), f.informer("pods"), f.informer("endpoints")
    c = EndpointsController(svc.indexer, pods.indexer, eps.indexer, client)
    svc.add_event_handler(c.on_service, c.on_service_update, c.on_service_delete)
    pods.add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
    eps.add_event_handler(on_delete=c.on_endpoints_delete)
    return c


def _endpointslice(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
    svc, pods, slices = f.informer("services"), f.informer("pods"), f.informer("endpointslices")
    c = EndpointSliceController(svc.indexer, pods.indexer, slices.indexer, client, nodes=f.informer("nodes").indexer)
    svc.add_event_handler(c.on_service, c.on_service_update, c.on_service_delete)
    pods.add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
    slices.add_event_handler(c.on_slice_add, c.on_slice_update, c.on_slice_delete)
    return c


def _job(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
    jobs, pods = f.informer("jobs"), f.informer("pods")
    c = JobController(jobs.indexer, pods.indexer, client)
    jobs.add_event_handler(c.on_job, c.on_job_update, c.on_job_delete)
    pods.add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
    return c


def _ttl_after_finished(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
    jobs = f.informer("jobs")
    c = TTLAfterFinishedController(jobs.indexer, client)
    jobs.add_event_handler(c.on_job, c.on_job_update)
    return c


def _namespace(f: SharedInformerFactory, client: Client, s: Settings) -> Controller:
    nsi = f.informer("namespaces")
    c = NamespaceController(nsi.indexer, client, recheck=s.namespace_recheck)
    nsi.add_event_handler(c.on_namespace, c.on_namespace_update, c.on_namespace_delete)
    return c


def _nodelifecycle(f: SharedInformerFactory, client: Client, s: Settings) -> Controller:
    nodes = f.informer("nodes")
    c = NodeLifecycleController(nodes.indexer, f.informer("leases").indexer, f.informer("pods").indexer, client,
                                config=s.node_lifecycle)
    nodes.add_event_handler(c.on_node, c.on_node_update, c.on_node_delete)
    return c


def _tainteviction(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
    nodes, pods = f.informer("nodes"), f.informer("pods")
    c = TaintEvictionController(nodes.indexer, pods.indexer, client)
    nodes.add_event_handler(c.on_node, c.on_node_update)
    pods.add_event_handler(c.on_pod, c.on_pod_update)
    return c


def _podgc(f: SharedInformerFactory, client: Client, s: Settings) -> Controller:
    return PodGCController(f.informer("pods").indexer, f.informer("nodes").indexer, client,
                           threshold=s.terminated_pod_gc_threshold, period=s.pod_gc_period,
                           quarantine=s.pod_gc_quarantine)


def _serviceaccount(f: SharedInformerFactory, client: Client, _: Settings) -> Controller:
    nsi, sai = f.informer("namespaces"), f.informer("serviceaccounts")
    c = ServiceAccountController(nsi.indexer, sai.indexer, client)
    nsi.add_event_handler(c.on_namespace, c.on_namespace_update)
    sai.add_event_handler(on_update=c.on_object_update, on_delete=c.on_object_delete)
    return c


def _root_ca(f: SharedInformerFactory, client: Client, s: Settings) -> Controller | None:
    if not s.root_ca:
        return None
    nsi, cmi = f.informer("namespaces"), f.informer("configmaps")
    c = RootCACertPublisher(nsi.indexer, cmi.indexer, client, s.root_ca)
    nsi.add_event_handler(c.on_namespace, c.on_namespace_update)
    cmi.add_event_handler(on_update=c.on_object_update, on_delete=c.on_object_delete)
    return c


# controller name (upstream's --controllers names) -> how to build it over the shared informers
CONTROLLERS: dict[str, Builder] = {
    "daemonset": _pod_owner("daemonsets", DaemonSetController, "nodes"),
    "deployment": _deployment,
    "endpoint": _endpoints,
    "endpointslice": _endpointslice,
    "garbagecollector": _garbagecollector,
    "job": _job,
    "namespace": _namespace,
    "nodeipam": _nodeipam,
    "nodelifecycle": _nodelifecycle,
    "podgc": _podgc,
    "replicaset": _pod_owner("replicasets", ReplicaSetController),
    "root-ca-cert-publisher": _root_ca,
    "serviceaccount": _serviceaccount,
    "statefulset": _pod_owner("statefulsets", StatefulSetController),
    "taint-eviction-controller": _tainteviction,
    "ttl-after-finished": _ttl_after_finished,
}


@dataclass
class ControllerManagerConfig:
    index: int
    controllers: list[str] | None = None  # None: every controller the manager knows
    workers: int = 5  # per controller (upstream's --concurrent-*-syncs default)
    timing: Timing = field(default_factory=Timing)
    settings: Settings = field(default_factory=Settings)
    apiservers: list[Any] = field(default_factory=list)  # handles; empty: find them by name


class ControllerManagerActor:
    """One replica: campaigns for ``lease_name`` and, while it leads, runs its
    enabled controllers (built from ``table``) over one set of informers."""

    lease_name = LEASE_NAME
    name_prefix = "controller-manager"
    table: dict[str, Callable[[SharedInformerFactory, Client, Any], Controller | None]] = CONTROLLERS

    def __init__(self, cfg: ControllerManagerConfig) -> None:
        self.enabled = list(self.table) if cfg.controllers is None else list(cfg.controllers)
        unknown = sorted(set(self.enabled) - set(self.table))
        if unknown:
            raise ValueError(f"unknown controllers {unknown}; known: {sorted(self.table)}")
        self.cfg = cfg
        self.client = Client(RayTransport(cfg.apiservers or None))
        self.started = time.monotonic()
        self.controllers: dict[str, Controller] = {}
        self.campaign = Campaign(self.client, LEASE_NAMESPACE, self.lease_name,
                                 f"{self.name_prefix}-{cfg.index}_{os.urandom(4).hex()}",
                                 self._lead, cfg.timing)
        self._task = asyncio.get_running_loop().create_task(self.campaign.run_forever())

    def context(self) -> Any:
        """What the builders get besides the informers and the client."""
        return self.cfg.settings

    async def _lead(self, lost: asyncio.Event) -> None:
        factory = SharedInformerFactory(self.client)
        context = self.context()
        built = {name: self.table[name](factory, self.client, context) for name in self.enabled}
        controllers = {name: c for name, c in built.items() if c is not None}
        self.controllers = controllers
        stop = asyncio.Event()  # the informers' own: set however this term ends
        factory.start(stop)
        try:
            await factory.wait_for_cache_sync(None)
            for c in controllers.values():
                c.on_synced()
            await asyncio.gather(*(c.run(c.workers or self.cfg.workers, lost) for c in controllers.values()))
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


def start_replicas(actor: type, count: int, first_index: int, cfg: dict[str, Any]) -> list[Any]:
    """Start ``count`` detached replicas of a controller-manager ``actor``
    class (one will lead) and wait until they answer."""
    cls = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=100)(actor)
    handles = [cls.options(name=f"{actor.name_prefix}-{i}", namespace=NAMESPACE, lifetime="detached").remote(
        ControllerManagerConfig(i, **cfg)) for i in range(first_index, first_index + count)]
    ray.get([h.status.remote() for h in handles], timeout=60)
    return handles


def start_controller_managers(count: int, first_index: int = 1, **cfg: Any) -> list[Any]:
    """Start ``count`` kube-controller-manager replicas."""
    return start_replicas(ControllerManagerActor, count, first_index, cfg)
