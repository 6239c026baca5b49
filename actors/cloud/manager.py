"""The simulated cloud on Ray, and the cloud-controller-manager over it.

The cloud is one detached actor (``cloud-provider``) holding a
:class:`~.provider.FakeCloud`: tests and the chaos tool call it to launch,
stop or delete instances, and see load balancers and routes, as one would a
provider's API. The cloud-controller-manager replicas (one active through
the Lease ``kube-system/cloud-controller-manager``) run the node, route and
service controllers against it through :class:`RemoteCloud`.
"""
from __future__ import annotations

from typing import Any, Callable

import ray

from kubeapi.client import Client
from kubeapi.informer import SharedInformerFactory

from ..apiserver.actor import NAMESPACE
from ..remote import RemoteProxy
from ..controllers.base import Controller
from ..controllers.manager import ControllerManagerActor, start_replicas
from .controllers import CloudNodeController, RouteController, ServiceLBController
from .provider import FakeCloud

CLOUD_ACTOR = "cloud-provider"


class RemoteCloud(RemoteProxy):
    """FakeCloud's interface over Ray: each call goes to the cloud-provider actor."""


class CloudProviderActor(FakeCloud):
    """The cloud as an actor, answering ``raykube status`` like the others."""

    async def status(self) -> dict:
        return {"region": self.region, "node_id": ray.get_runtime_context().get_node_id(),
                "instances": len(await self.list_instances()),
                "load_balancers": len(await self.list_load_balancers()), "volumes": len(await self.list_volumes())}


def start_cloud(**kw: Any) -> Any:
    """The cloud-provider actor (started if missing; ``kw`` go to FakeCloud)."""
    cls = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=100)(CloudProviderActor)
    handle = cls.options(name=CLOUD_ACTOR, namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote(**kw)
    ray.get(handle.status.remote(), timeout=60)
    return handle


CloudBuilder = Callable[[SharedInformerFactory, Client, Any], Controller]


def _node(f: SharedInformerFactory, client: Client, cloud: Any) -> Controller:
    nodes = f.informer("nodes")
    c = CloudNodeController(nodes.indexer, cloud, client)
    nodes.add_event_handler(c.on_node_add, c.on_node_update, c.on_node_delete)
    return c


def _route(f: SharedInformerFactory, client: Client, cloud: Any) -> Controller:
    nodes = f.informer("nodes")
    c = RouteController(nodes.indexer, cloud, client)
    nodes.add_event_handler(c.on_node_add, c.on_node_update, c.on_node_delete)
    return c


def _service(f: SharedInformerFactory, client: Client, cloud: Any) -> Controller:
    services, nodes = f.informer("services"), f.informer("nodes")
    c = ServiceLBController(services.indexer, nodes.indexer, cloud, client)
    services.add_event_handler(c.on_service_add, c.on_service_update, c.on_service_delete)
    nodes.add_event_handler(c.on_node_add, c.on_node_update, c.on_node_delete)
    return c


# upstream's cloud-controller-manager controller names
CLOUD_CONTROLLERS: dict[str, CloudBuilder] = {"cloud-node": _node, "route": _route, "service": _service}


class CloudControllerManagerActor(ControllerManagerActor):
    lease_name = "cloud-controller-manager"
    name_prefix = "cloud-controller-manager"
    table = CLOUD_CONTROLLERS

    def context(self) -> RemoteCloud:
        return RemoteCloud(ray.get_actor(CLOUD_ACTOR, namespace=NAMESPACE))


def start_cloud_controller_managers(count: int, first_index: int = 1, **cfg: Any) -> list[Any]:
    """The cloud (if not running yet) and ``count`` cloud-controller-manager replicas."""
    start_cloud()
    return start_replicas(CloudControllerManagerActor, count, first_index, cfg)
