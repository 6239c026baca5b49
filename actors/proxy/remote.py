"""The pod network over Ray. Every actor that hosts node networks (a CRI
actor: one node; a node pool: many) is a :class:`NetworkHost`: the fabric
hands it flows (``netsim_deliver``), kube-proxy and the network agent
program it, people and probes send requests from it. Hosts reach each
other by actor name (a Node's ``raykube.io/netsim-host``), and pods reach the
cluster DNS actor at the kube-dns Service's address."""
from __future__ import annotations

import logging
from typing import Any, Callable

import ray

from netsim.addresses import CLUSTER_DNS_IP
from netsim.dns import ResolveResult, ResolverConfig
from netsim.host import Host, LinkFactory
from netsim.resolver import Nameserver
from netsim.services import MODES
from netsim.traffic import Flow, Reply

from ..apiserver.actor import NAMESPACE

log = logging.getLogger(__name__)
DNS_ACTOR = "cluster-dns"


class ActorRef:
    """A named actor, looked up on first use and again after it failed (a
    restarted or re-created actor is found under the same name)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handle: Any = None

    def handle(self) -> Any:
        if self._handle is None:
            self._handle = ray.get_actor(self.name, namespace=NAMESPACE)
        return self._handle

    def forget(self) -> None:
        self._handle = None


class RayLink(ActorRef):
    """The fabric's link to another host: a flow crosses as one actor call."""

    async def deliver(self, node: str, flow: Flow) -> Reply:
        try:
            return await self.handle().netsim_deliver.remote(node, flow)
        except Exception:
            self.forget()
            raise


def ray_links() -> LinkFactory:
    links: dict[str, RayLink] = {}

    def link(name: str) -> RayLink:
        if name not in links:
            links[name] = RayLink(name)
        return links[name]
    return link


def ray_nameservers(cluster_dns: str = CLUSTER_DNS_IP) -> Callable[[str], Nameserver | None]:
    """The cluster DNS actor answers at ``cluster_dns``; no other nameserver exists here."""
    ref = ActorRef(DNS_ACTOR)

    async def search(name: str, qtype: str, config: ResolverConfig) -> ResolveResult:
        try:
            return await ref.handle().resolve.remote(name, qtype, config)
        except Exception as e:
            ref.forget()
            raise LookupError(f"{name}: nameserver {cluster_dns} did not answer ({type(e).__name__})") from e
    return lambda ip: search if ip == cluster_dns else None


class NetworkHost:
    """The methods of an actor holding ``self.host`` (a netsim Host)."""

    host: Host

    async def netsim_deliver(self, node: str, flow: Flow) -> Reply:
        return await self.host.deliver(node, flow)

    async def netsim_request(self, source: str, host: str, port: int, payload: bytes = b"", *,
                             protocol: str = "TCP", timeout: float = 10.0) -> Reply:
        """A request from ``source``: a pod IP on one of this host's nodes, or a node name."""
        ns = self.host.pod(source)
        if ns is None and source not in self.host.nodes:
            raise ValueError(f"{source!r} is neither a pod IP nor a node of network host {self.host.name}")
        return await self.host.request(ns if ns is not None else source, host, port, payload, protocol=protocol,
                                       timeout=timeout)

    async def program_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"proxy mode {mode!r}: expected one of {', '.join(MODES)}")
        self.host.services.mode = mode

    async def netsim_epoch(self) -> str:
        """Changes when the host starts anew (an actor restart): what was programmed is gone."""
        return self.host.epoch


DATAPLANE_CALLS = ("program_service", "program_node", "forget_node", "program_route", "unprogram_route",
                   "program_routes")


def _delegate(name: str) -> Any:
    async def call(self: NetworkHost, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.host, name)(*args, **kwargs)
    call.__name__ = name
    return call


for _name in DATAPLANE_CALLS:
    setattr(NetworkHost, _name, _delegate(_name))
