"""Kubelets on Ray.

* ``kubelet-<node>``: one real kubelet per node, calling its node's CRI
  actor (``cri-<node>``, the ``process`` or ``sim`` runtime); on a
  multi-node Ray cluster each pair is placed on its own Ray node.
* ``node-pool-<i>``: a hollow node pool, up to ``POOL_SIZE`` sim kubelets in
  one actor.

Every Node a kubelet registers carries the annotation ``raykube.io/kubelet``
naming the actor that serves it, so the apiserver knows whom to ask for
``kubectl logs`` and ``kubectl exec`` (its ``serve`` call), and
``raykube.io/netsim-host`` naming the actor its pod network lives in (the
CRI actor, or the pool), so other nodes' traffic finds its pods. Each node
has an address of its own (``netsim.addresses``); a kubelet node gets a
kube-proxy actor next to it, a pool runs its nodes' hollow kube-proxy itself.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from kubeapi.client import Client
from netsim.addresses import node_address
from netsim.resolver import pod_resolver
from netsim.services import RANDOM

from ..apiserver.actor import NAMESPACE
from ..apiserver.handler import KUBELET_ANNOTATION
from ..apiserver.transport import RayTransport
from ..cri import api as cri_api
from ..cloud.controllers import DEFAULT_CLUSTER
from ..cloud.manager import CLOUD_ACTOR, RemoteCloud
from ..cri.actor import CRIActor, cri_name
from ..proxy.actor import CLOUD, OVERLAY, start_kube_proxy
from ..proxy.proxier import NETSIM_HOST_ANNOTATION, follow_cloud_routes
from ..proxy.remote import NetworkHost, ray_links, ray_nameservers
from ..remote import RemoteProxy
from .kubelet import Kubelet, KubeletConfig, Prober
from .node import NodeConfig
from .pool import NodePool

POOL_SIZE = 1000


# what the apiserver asks of a kubelet (pods/log, pods/exec)
SERVED_CALLS = ("logs", "follow_logs", "exec", "exec_stream", "exec_cancel")


async def serve_call(kubelet: Kubelet, call: str, args: tuple, kw: dict) -> Any:
    if call not in SERVED_CALLS:
        raise cri_api.InvalidArgument(f"the kubelet serves {', '.join(SERVED_CALLS)}, not {call!r}")
    return await getattr(kubelet, call)(*args, **kw)


def rss_bytes() -> int:
    """This process's resident memory (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def kubelet_name(node: str) -> str:
    return f"kubelet-{node}"


def pool_name(index: int) -> str:
    return f"node-pool-{index}"


@dataclass
class KubeletActorConfig:
    kubelet: KubeletConfig
    runtime: str = "process"
    apiservers: list[Any] = field(default_factory=list)


def _annotated(cfg: KubeletConfig, actor: str, network_host: str) -> KubeletConfig:
    node = dataclasses.replace(cfg.node, annotations={**cfg.node.annotations, KUBELET_ANNOTATION: actor,
                                                      NETSIM_HOST_ANNOTATION: network_host})
    return dataclasses.replace(cfg, node=node)


class RuntimeNetwork:
    """The pods' network as the node's CRI actor reaches it (the sim runtime's
    lives in that actor): what the kubelet's network probes go through."""

    def __init__(self, cri: Any) -> None:
        self.cri = cri

    async def request(self, src_ip: str, method: str, url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
        return await self._unreachable_as_oserror(self.cri.network_request(src_ip, method, url, body, timeout))

    async def connect(self, host: str, port: int, timeout: float) -> None:
        await self._unreachable_as_oserror(self.cri.network_connect(host, port, timeout))

    @staticmethod
    async def _unreachable_as_oserror(call: Any) -> Any:
        """A failure in or of the CRI actor is the pod being unreachable (a failed probe)."""
        try:
            return await call
        except (OSError, asyncio.TimeoutError):
            raise
        except Exception as e:  # noqa: BLE001 - a dead CRI actor, a client error inside it
            raise OSError(f"{type(e).__name__}: {e}") from e


class KubeletActor:
    def __init__(self, cfg: KubeletActorConfig) -> None:
        name = cfg.kubelet.node.name
        kcfg = _annotated(cfg.kubelet, kubelet_name(name), cri_name(name))
        if cfg.runtime == "process":
            kcfg = dataclasses.replace(kcfg, runtime_name="raykube-process", log_root="",
                                       node=dataclasses.replace(kcfg.node, runtime_version="raykube-process://0.1"))
        cri = RemoteProxy(ray.get_actor(cri_name(name), namespace=NAMESPACE))
        self.client = Client(RayTransport(cfg.apiservers or None))
        self.kubelet = Kubelet(kcfg, self.client, cri, cri, prober=Prober(cri, RuntimeNetwork(cri)))
        self.stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.kubelet.run(self.stop))

    async def serve(self, node: str, call: str, *args: Any, **kw: Any) -> Any:
        return await serve_call(self.kubelet, call, args, kw)

    async def status(self) -> dict:
        return {"node": self.kubelet.name, "pods": len(self.kubelet.workers), "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id(), "registered": bool(self.kubelet.node_uid)}


class NodePoolActor(NetworkHost):
    def __init__(self, index: int, names: list[str], template: KubeletConfig,
                 apiservers: list[Any] | None = None, addresses: list[str] | None = None, *,
                 proxy_mode: str = RANDOM, routes: str = OVERLAY) -> None:
        self.index = index
        self.client = Client(RayTransport(apiservers or None))
        name = pool_name(index)
        self.pool = NodePool(self.client, names, template=_annotated(template, name, name), addresses=addresses,
                             host=name, links=ray_links(), resolve=pod_resolver(ray_nameservers()),
                             proxy_mode=proxy_mode, overlay=routes == OVERLAY)
        self.host = self.pool.host
        self.stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.pool.run(self.stop))]
        if routes == CLOUD:
            cloud = RemoteCloud(ray.get_actor(CLOUD_ACTOR, namespace=NAMESPACE))
            self._tasks.append(loop.create_task(follow_cloud_routes(cloud, self.host, self.stop,
                                                                    cluster=DEFAULT_CLUSTER)))

    async def serve(self, node: str, call: str, *args: Any, **kw: Any) -> Any:
        kubelet = self.pool.kubelets.get(node)
        if kubelet is None:
            raise cri_api.NotFound(f"node {node} is not in pool {self.index}")
        return await serve_call(kubelet, call, args, kw)

    async def status(self) -> dict:
        return {"pool": self.index, **self.pool.status(), "node_id": ray.get_runtime_context().get_node_id(),
                "pid": os.getpid(), "rss_bytes": rss_bytes()}


def worker_nodes() -> list[str]:
    """The Ray nodes that run kubelets: every alive node but the head (and control-plane nodes)."""
    alive = [n for n in ray.nodes() if n.get("Alive")]
    head = ray.get_runtime_context().get_node_id()
    workers = [n["NodeID"] for n in alive if n["NodeID"] != head and not n.get("Resources", {}).get(
        "raykube-control-plane")]
    return workers


def start_kubelets(count: int, *, runtime: str = "process", prefix: str = "node", first_index: int = 1,
                   template: KubeletConfig | None = None, apiservers: list[Any] | None = None,
                   proxy_mode: str = RANDOM, routes: str = OVERLAY) -> list[Any]:
    """``count`` nodes, each a CRI actor, a kubelet actor and a kube-proxy actor side by
    side, spread over the Ray worker nodes; waits until every one answers. Returns the
    kubelet handles, then the kube-proxy ones (the CRI actors are found by name)."""
    template = template or KubeletConfig(NodeConfig("template"))
    targets = worker_nodes() or [ray.get_runtime_context().get_node_id()]
    handles: list[Any] = []
    proxies: list[Any] = []
    for k, i in enumerate(range(first_index, first_index + count)):
        name = f"{prefix}-{i}"
        where = NodeAffinitySchedulingStrategy(targets[k % len(targets)], soft=True)
        opts = dict(namespace=NAMESPACE, lifetime="detached", scheduling_strategy=where)
        cri = ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=1000)(CRIActor).options(
            name=cri_name(name), **opts).remote(name, runtime)
        ray.get(cri.status.remote(), timeout=60)
        cfg = dataclasses.replace(template, node=dataclasses.replace(template.node, name=name,
                                                                     node_ip=node_address(i)))
        handles.append(ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=1000)(KubeletActor).options(
            name=kubelet_name(name), **opts).remote(KubeletActorConfig(cfg, runtime, list(apiservers or []))))
        proxies.append(start_kube_proxy(name, list(apiservers or []), mode=proxy_mode, routes=routes,
                                        scheduling_strategy=where))
    ray.get([h.status.remote() for h in handles + proxies], timeout=60)
    return handles + proxies


def start_node_pools(count: int, *, prefix: str = "hollow-node", pool_size: int = POOL_SIZE, first_index: int = 1,
                     template: KubeletConfig | None = None, apiservers: list[Any] | None = None,
                     proxy_mode: str = RANDOM, routes: str = OVERLAY) -> list[Any]:
    """``count`` hollow nodes in pools of at most ``pool_size``; waits until every pool answers."""
    template = template or KubeletConfig(NodeConfig("template"))
    names = [f"{prefix}-{i}" for i in range(count)]
    addresses = [node_address(i, block=1) for i in range(count)]
    handles = []
    for p, start in enumerate(range(0, count, pool_size), start=first_index):
        handles.append(ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=1000)(NodePoolActor).options(
            name=pool_name(p), namespace=NAMESPACE, lifetime="detached").remote(
                p, names[start:start + pool_size], template, list(apiservers or []),
                addresses[start:start + pool_size], proxy_mode=proxy_mode, routes=routes))
    ray.get([h.status.remote() for h in handles], timeout=120)
    return handles
