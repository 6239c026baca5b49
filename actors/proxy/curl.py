"""``raykube net curl``: an HTTP request into the pod network, from a pod
(``--from ns/pod``: sent by the network host of the pod's node, as if the
pod's process made it) or from outside the cluster (through a node's
NodePort or a load balancer), printing the answer and the hops it took."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from kubeapi import errors
from netsim.external import Outside
from netsim.host import LinkFactory
from netsim.pods import split_url
from netsim.services import service_ports
from netsim.traffic import (EXTERNAL, NO_ROUTE, NXDOMAIN, REFUSED, TIMEOUT, Reply, http_request_bytes,
                            parse_http_response)

from .proxier import node_addresses, netsim_host_of, slice_service_index

# curl's exit codes for the ways a request fails
EXIT_CODES = {NXDOMAIN: 6, REFUSED: 7, NO_ROUTE: 7, TIMEOUT: 28}


class CurlError(Exception):
    """Bad input: the message is the one line to print."""


@dataclass
class CurlResult:
    reply: Reply
    status: int = 0
    body: bytes = b""

    @property
    def exit_code(self) -> int:
        if not self.reply.ok:
            return EXIT_CODES.get(self.reply.error, 56)
        return 0

    def render(self) -> str:
        """What the command prints: the answer (or the error, as curl words it), then the path."""
        if self.reply.ok:
            head = self.body.decode(errors="replace")
            if head and not head.endswith("\n"):
                head += "\n"
        else:
            head = f"curl: ({self.exit_code}) {self.reply.message}\n"
        return f"{head}--- path ({self.status or self.reply.error}):\n{self.reply.path()}\n"


def parse_source(text: str) -> tuple[str, str]:
    """``ns/pod`` or ``pod`` (default namespace) -> (namespace, name)."""
    ns, _, name = text.rpartition("/")
    if not name or "/" in ns:
        raise CurlError(f"--from {text!r}: expected NAMESPACE/POD or POD")
    return ns or "default", name


async def outside(client: Any, links: LinkFactory) -> Outside:
    """The outside world as it stands now: every node's addresses and host,
    every Service's load balancer."""
    out = Outside(links=links)
    nodes, services, slices = await asyncio.gather(client.list("nodes"), client.list("services"),
                                                   client.list("endpointslices"))
    for node in nodes["items"]:
        out.program_node(node["metadata"]["name"], node_addresses(node), netsim_host_of(node))
    by_service: dict[str, list[dict]] = {}
    for s in slices["items"]:
        for key in slice_service_index(s):
            by_service.setdefault(key, []).append(s)
    for svc in services["items"]:
        key = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
        out.program_service(key, service_ports(svc, by_service.get(key, [])))
    return out


# (network host name, source pod IP, host, port, payload, timeout) -> the reply
SendFrom = Callable[[str, str, str, int, bytes, float], Awaitable[Reply]]


async def request(client: Any, source: str, host: str, port: int, payload: bytes, *, timeout: float = 10.0,
                  links: LinkFactory, send_from: SendFrom) -> Reply:
    """One flow into the cluster's network: from ``source`` — a pod
    (``ns/pod``) or ``external`` — to ``host`` (a name, a ClusterIP, a pod or
    node address, a load balancer IP) and ``port``; the answer and its hops."""
    if source and source != EXTERNAL:
        ns, name = parse_source(source)
        try:
            pod = await client.get("pods", name, ns)
        except errors.ApiError as e:
            raise CurlError(f"--from {ns}/{name}: {e}") from None
        node, ip = (pod.get("spec") or {}).get("nodeName"), (pod.get("status") or {}).get("podIP")
        if not node or not ip:
            raise CurlError(f"--from {ns}/{name}: the pod has no IP yet (phase "
                            f"{(pod.get('status') or {}).get('phase', 'Pending')})")
        network_host = netsim_host_of(await client.get("nodes", node))
        if not network_host:
            raise CurlError(f"--from {ns}/{name}: node {node} has no pod network host")
        return await send_from(network_host, ip, host, port, payload, timeout)
    return await (await outside(client, links)).request(host, port, payload, timeout=timeout)


async def curl(client: Any, url: str, *, source: str = "", method: str = "GET", data: bytes = b"",
               timeout: float = 10.0, links: LinkFactory, send_from: SendFrom) -> CurlResult:
    try:
        host, port, path = split_url(url)
    except OSError as e:
        raise CurlError(f"{url}: {e.strerror or e}") from None
    if not host:
        raise CurlError(f"{url}: no host in the URL")
    reply = await request(client, source, host, port, http_request_bytes(method, host, port, path, data),
                          timeout=timeout, links=links, send_from=send_from)
    result = CurlResult(reply)
    if reply.ok:
        try:
            result.status, _, result.body = parse_http_response(reply.payload)
        except ValueError:
            result.body = reply.payload
    return result
