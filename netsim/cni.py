"""The CNI plugin interface (ADD, DEL, CHECK, GC on a container's network
namespace) and the bridge plugin with host-local IPAM, the pair upstream's
simplest pod networks use: every pod of a node hangs off the node's bridge
``cni0`` with an address of the node's podCIDR, the bridge's address (.1)
its gateway.

A runtime calls the plugin while it makes and removes a sandbox, as
containerd does; the plugin wires the namespace into the node's network
(:class:`netsim.host.NodeNet`) and answers a CNI result.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from .host import NodeNet
from .ipam import HostLocalIPAM, IPAMError, MemoryStore, Store

CNI_VERSION = "1.0.0"
# CNI's well-known error codes
INCOMPATIBLE_VERSION, UNSUPPORTED_FIELD, UNKNOWN_CONTAINER, INVALID_ENV, IO_FAILURE = 1, 2, 3, 4, 5
DECODE_FAILURE, INVALID_NETWORK_CONFIG, TRY_AGAIN_LATER = 6, 7, 11


class CNIError(Exception):
    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(f"{msg}: {details}" if details else msg)
        self.code, self.msg, self.details = code, msg, details

    def __reduce__(self):  # crosses Ray with its fields
        return CNIError, (self.code, self.msg, self.details)


@dataclass(frozen=True)
class CNIArgs:
    """What a runtime passes a plugin (CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS)."""
    container_id: str
    netns: str
    ifname: str = "eth0"
    args: tuple[tuple[str, str], ...] = ()     # K8S_POD_NAMESPACE, K8S_POD_NAME, ...

    def arg(self, name: str) -> str:
        return dict(self.args).get(name, "")


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str
    sandbox: str = ""


@dataclass(frozen=True)
class IPConfig:
    address: str          # CIDR notation: 10.244.1.5/24
    gateway: str
    interface: int        # index into the result's interfaces


@dataclass(frozen=True)
class Route:
    dst: str
    gw: str = ""


@dataclass(frozen=True)
class Result:
    cni_version: str = CNI_VERSION
    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: dict = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return self.ips[0].address.split("/", 1)[0] if self.ips else ""


class Plugin(Protocol):
    """A CNI plugin: ADD wires a namespace in, DEL takes it out (and must
    succeed for what is already gone), CHECK says whether it is still as ADD
    left it, GC frees what belongs to no listed attachment."""

    def add(self, args: CNIArgs) -> Result: ...

    def delete(self, args: CNIArgs) -> None: ...

    def check(self, args: CNIArgs) -> None: ...

    def gc(self, valid: set[str]) -> list[str]: ...


def _mac(seed: str) -> str:
    h = hashlib.sha1(seed.encode()).digest()
    return "0a:58:" + ":".join(f"{b:02x}" for b in h[:4])   # 0a:58 as the bridge plugin's locally administered MACs


class BridgePlugin:
    """bridge + host-local over one node's network. The IPAM range is the
    node's podCIDR, known once the node has one (``set_subnet``); until then
    ADD fails with "try again later", as a CNI config waiting for its podCIDR does."""

    def __init__(self, node: NodeNet, store: Store | None = None, *, bridge: str = "cni0") -> None:
        self.node = node
        self.bridge = bridge
        self.store = store if store is not None else MemoryStore()
        self.ipam: HostLocalIPAM | None = None

    def set_subnet(self, cidr: str) -> None:
        if self.ipam is not None and self.ipam.subnet == cidr:
            return
        try:
            self.ipam = HostLocalIPAM(self.store, cidr)
        except IPAMError as e:
            raise CNIError(INVALID_NETWORK_CONFIG, "invalid IPAM range", str(e)) from e
        self.node.pod_cidr = self.ipam.subnet

    def _ipam(self) -> HostLocalIPAM:
        if self.ipam is None:
            raise CNIError(TRY_AGAIN_LATER, "network is not ready", "the node has no podCIDR yet")
        return self.ipam

    def add(self, args: CNIArgs) -> Result:
        ns = self.node.namespace(args.netns)
        if ns is None:
            raise CNIError(IO_FAILURE, "failed to open netns", f"{args.netns}: no such network namespace")
        try:
            alloc = self._ipam().allocate(args.container_id, args.ifname)
        except IPAMError as e:
            raise CNIError(e.code, "failed to allocate an address", str(e)) from e
        self.node.attach(ns, alloc.ip)
        veth = "veth" + hashlib.sha1(args.container_id.encode()).hexdigest()[:8]
        return Result(interfaces=(Interface(self.bridge, _mac(self.node.name + self.bridge)),
                                  Interface(veth, _mac(veth)),
                                  Interface(args.ifname, _mac(args.container_id), args.netns)),
                      ips=(IPConfig(alloc.address, alloc.gateway, 2),),
                      routes=(Route("0.0.0.0/0", alloc.gateway),))

    def delete(self, args: CNIArgs) -> None:
        ns = self.node.namespace(args.netns)
        if ns is not None:
            self.node.detach(ns)
        if self.ipam is not None:
            self.ipam.release(args.container_id, args.ifname)

    def check(self, args: CNIArgs) -> None:
        ns = self.node.namespace(args.netns)
        if ns is None:
            raise CNIError(IO_FAILURE, "failed to open netns", f"{args.netns}: no such network namespace")
        alloc = self._ipam().get(args.container_id, args.ifname)
        if alloc is None:
            raise CNIError(UNKNOWN_CONTAINER, "no IP address allocated", args.container_id)
        if ns.ip != alloc.ip or self.node.bridge.get(alloc.ip) is not ns:
            raise CNIError(IO_FAILURE, "interface is not as ADD left it",
                           f"{args.ifname} has {ns.ip or 'no address'}, IPAM holds {alloc.ip}")

    def gc(self, valid: set[str]) -> list[str]:
        return self.ipam.gc(valid) if self.ipam is not None else []
