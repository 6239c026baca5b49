"""What a container runtime asks of the pod network for one node, as
containerd asks its CNI plugins (a namespace per sandbox, wired in by ADD and
out by DEL), and what in-process programs use from inside a pod (listen on a
port, make a request) — the ``Network`` the sim runtime's contexts take.
"""
from __future__ import annotations

import asyncio
import errno
from typing import Any, Callable
from urllib.parse import urlsplit

from .cni import BridgePlugin, CNIArgs, CNIError, Result
from .host import Fabric, Host, NetNS, RealSockets, Resolved
from .ipam import Store
from .traffic import HTTPHandler, Reply, http_listener, http_request_bytes, parse_http_response

Closer = Callable[[], None]


def netns_path(sandbox_id: str) -> str:
    return f"/var/run/netns/cni-{sandbox_id}"


def split_url(url: str) -> tuple[str, int, str]:
    """(host, port, path with query) of an http URL; a missing scheme means http."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", ""):
        raise OSError(errno.EPROTONOSUPPORT, f"unsupported scheme {parts.scheme!r}")
    try:
        port = parts.port or 80
    except ValueError as e:
        raise OSError(errno.EINVAL, f"bad port in {url!r}") from e
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname or "", port, path


class PodNetwork:
    """One node's pod network in ``host``, through the bridge plugin."""

    def __init__(self, host: Host, node: str, *, store: Store | None = None,
                 sockets: RealSockets | None = None) -> None:
        self.host = host
        self.node = node
        self.net = host.add_node(node)
        self.plugin = BridgePlugin(self.net, store)
        self.sockets = sockets          # set: the pods' servers are real processes

    @classmethod
    def standalone(cls, node: str = "node", cidr: str = "10.244.0.0/24", *,
                   sleep: Callable[[float], Any] = asyncio.sleep, **kw: Any) -> "PodNetwork":
        """A single node on a fabric of its own (a runtime tested alone)."""
        fabric = Fabric()
        host = Host(f"host-{node}", fabric, sleep=sleep)
        net = cls(host, node, **kw)
        net.set_pod_cidr(cidr)
        fabric.set_node(node, (), host)
        fabric.set_route(cidr, node)
        return net

    def set_pod_cidr(self, cidr: str) -> None:
        """The node's pod CIDR (from the kubelet). Reservations in the store for
        sandboxes this network does not hold are collected (CNI GC): a runtime
        starting over a store its previous life left behind leaks nothing."""
        self.plugin.set_subnet(cidr)
        self.plugin.gc({path.rsplit("cni-", 1)[-1] for path in self.net.namespaces})

    # ---------------------------------------------------------- sandboxes
    def setup(self, sandbox_id: str, *, pod: str = "", dns: Any = None, real_ip: Callable[[str], str] | None = None,
              args: tuple[tuple[str, str], ...] = ()) -> Result:
        """Make the sandbox's namespace and ADD it to the network; a failure
        leaves nothing behind. ``real_ip`` maps the pod IP to the address its
        real processes listen on."""
        path = netns_path(sandbox_id)
        ns = self.host.create_netns(self.node, path, pod, dns)
        try:
            result = self.plugin.add(CNIArgs(sandbox_id, path, "eth0", args))
        except CNIError:
            self.host.delete_netns(self.node, path)
            raise
        if real_ip is not None:
            ns.real_ip, ns.sockets = real_ip(result.ip), self.sockets
        return result

    def teardown(self, sandbox_id: str) -> None:
        """DEL and remove the namespace; idempotent, as CNI DEL must be."""
        path = netns_path(sandbox_id)
        self.plugin.delete(CNIArgs(sandbox_id, path, "eth0"))
        self.host.delete_netns(self.node, path)

    def check(self, sandbox_id: str) -> None:
        self.plugin.check(CNIArgs(sandbox_id, netns_path(sandbox_id), "eth0"))

    def gc(self, sandbox_ids: set[str]) -> list[str]:
        """Give back the addresses of sandboxes that no longer exist (after a restart)."""
        return self.plugin.gc(sandbox_ids)

    def namespace(self, ip: str) -> NetNS | None:
        return self.net.bridge.get(ip)

    # ---------------------------------------------------------- programs
    async def listen(self, ip: str, port: int, handler: HTTPHandler) -> Closer:
        ns = self.net.bridge.get(ip)
        if ns is None:
            raise OSError(errno.EADDRNOTAVAIL, f"listen tcp {ip}:{port}: bind: cannot assign requested address")
        return ns.bind(port, http_listener(handler))

    def _source(self, src_ip: str) -> NetNS | str:
        return self.net.bridge.get(src_ip) or self.node

    async def send(self, src_ip: str, host: str, port: int, payload: bytes, *, protocol: str = "TCP",
                   timeout: float = 10.0) -> Reply:
        """A raw request from the pod with ``src_ip`` (the node itself when no pod has it)."""
        return await self.host.request(self._source(src_ip), host, port, payload, protocol=protocol, timeout=timeout)

    async def request(self, src_ip: str, method: str, url: str, body: bytes = b"",
                      timeout: float = 10.0) -> tuple[int, bytes]:
        """An HTTP request: (status, body); raises what a socket would."""
        host, port, path = split_url(url)
        reply = await self.send(src_ip, host, port, http_request_bytes(method, host, port, path, body),
                                timeout=timeout)
        reply.raise_for_error()
        try:
            status, _, data = parse_http_response(reply.payload)
        except ValueError as e:
            raise ConnectionResetError(f"malformed HTTP answer from {reply.server}: {e}") from None
        return status, data

    async def lookup(self, src_ip: str, name: str) -> Resolved:
        """A name looked up as the pod with ``src_ip`` would (its resolv.conf);
        LookupError when it does not resolve."""
        if self.host.resolve is None:
            raise LookupError(f"{name}: no nameserver answered (none configured)")
        return await self.host.resolve(self.net.bridge.get(src_ip), name)

    async def connect(self, host: str, port: int, timeout: float = 10.0) -> None:
        """A TCP connect from the node (a tcpSocket probe): raises when refused or unreachable."""
        reply = await self.host.request(self.node, host, port, b"", timeout=timeout)
        reply.raise_for_error()
