"""Pod IPs from the node's ``spec.podCIDR`` (host-local style, until the
network simulator's CNI plugin takes over): the runtime asks for an address
per sandbox; before the node has a CIDR the network is not ready, and a
sandbox cannot be made, as upstream's kubelet reports."""
from __future__ import annotations

import ipaddress

from ..cri import api
from ..cri.sim import SubnetAllocator


class PodIPAM:
    def __init__(self, cidr: str | None = None) -> None:
        self.cidr: str | None = None
        self._alloc: SubnetAllocator | None = None
        if cidr:
            self.set_cidr(cidr)

    def set_cidr(self, cidr: str) -> None:
        """The node's pod CIDR (a /24: its .1 is the gateway), once known."""
        if cidr == self.cidr:
            return
        net = ipaddress.ip_network(cidr, strict=False)
        if net.prefixlen != 24 or net.version != 4:
            raise ValueError(f"pod CIDR {cidr}: only IPv4 /24s are handed out here")
        self.cidr = str(net)
        self._alloc = SubnetAllocator(str(net.network_address)[:-1])

    def allocate(self, owner: str) -> str:
        if self._alloc is None:
            raise api.FailedPrecondition("network is not ready: the node has no podCIDR yet")
        return self._alloc.allocate(owner)

    def release(self, owner: str) -> None:
        if self._alloc is not None:
            self._alloc.release(owner)
