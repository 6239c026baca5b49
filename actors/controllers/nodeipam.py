"""Node IPAM (upstream's ``nodeipam`` controller, range allocator): every
Node gets a ``spec.podCIDR`` — a /24 of the cluster CIDR (10.244.0.0/16 by
default) — that no other node holds. A node's CIDR is free again only once
the node is gone; allocations sent but not yet seen in the informer count as
taken, so two nodes never get the same range."""
from __future__ import annotations

import functools
import ipaddress
import time
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer

from .base import Controller, Writer, object_key

DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_NODE_MASK = 24


@functools.lru_cache(maxsize=65536)
def _start(cidr: str) -> int:
    """A CIDR's first address as an integer (parsed once: a sync compares against every node's)."""
    return int(ipaddress.ip_network(cidr, strict=False).network_address)


class CIDRExhausted(RuntimeError):
    pass


class NodeIPAMController(Controller):
    name = "nodeipam"
    workers = 30   # upstream's cidrUpdateWorkers: a thousand registering nodes wait on these writes

    def __init__(self, nodes: Indexer, client: Writer, *, cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
                 node_mask: int = DEFAULT_NODE_MASK, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.nodes = nodes
        self.client = client
        self.network = ipaddress.ip_network(cluster_cidr)
        if not self.network.prefixlen <= node_mask <= self.network.max_prefixlen:
            raise ValueError(f"node mask /{node_mask} does not fit in {cluster_cidr}")
        self.node_mask = node_mask
        self.pending: dict[str, str] = {}  # node name -> CIDR sent, not yet seen
        self._next = 0                      # where the search for a free range starts

    def on_node(self, node: Any) -> None:
        self.enqueue(node)

    def on_node_update(self, old: Any, new: Any) -> None:
        self.enqueue(new)

    def on_node_delete(self, node: Any) -> None:
        self.enqueue(object_key(node))

    def _taken(self) -> set[str]:
        taken = set(self.pending.values())
        for n in self.nodes.list():
            cidr = (n.get("spec") or {}).get("podCIDR")
            if cidr:
                taken.add(str(ipaddress.ip_network(cidr, strict=False)))
        return taken

    def allocate(self) -> str:
        """The next /mask of the cluster CIDR no node holds, from after the last one
        handed out (as upstream's cidrset), so thousands of nodes cost no rescans."""
        taken = {_start(c) for c in self._taken()}
        step = 1 << (self.network.max_prefixlen - self.node_mask)
        base = int(self.network.network_address)
        count = self.network.num_addresses // step
        for i in range(count):
            k = (self._next + i) % count
            if base + k * step not in taken:
                self._next = (k + 1) % count
                return f"{ipaddress.ip_address(base + k * step)}/{self.node_mask}"
        raise CIDRExhausted(f"no /{self.node_mask} left in {self.network} for another node")

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            self.pending.pop(key, None)  # gone: its range is free once the lister forgets it
            return
        spec = node.get("spec") or {}
        if spec.get("podCIDR"):
            self.pending.pop(key, None)
            return
        cidr = self.pending.get(key) or self.allocate()
        self.pending[key] = cidr
        meta = node["metadata"]
        try:
            ops: list[dict] = [{"op": "test", "path": "/metadata/uid", "value": meta.get("uid")}]
            if "spec" in node:
                ops += [{"op": "add", "path": "/spec/podCIDR", "value": cidr},
                        {"op": "add", "path": "/spec/podCIDRs", "value": [cidr]}]
            else:
                ops.append({"op": "add", "path": "/spec", "value": {"podCIDR": cidr, "podCIDRs": [cidr]}})
            await self.client.patch("nodes", meta["name"], ops, patch_type="json")
        except errors.ApiError as e:
            if errors.is_not_found(e) or e.code == 422:
                self.pending.pop(key, None)  # gone or replaced: the next event brings it back
                return
            raise
