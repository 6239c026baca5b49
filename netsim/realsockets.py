"""The bridge from the simulated network to real processes (the process
runtime's containers): a flow that reaches such a pod's namespace is sent to
the real socket its process listens on, on the pod's own loopback address."""
from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .traffic import http_response_bytes


def loopback_address(pod_ip: str) -> str:
    """Where a real process of the pod with ``pod_ip`` listens: the pod IP moved
    into 127.0.0.0/8 (10.244.3.7 -> 127.244.3.7), so the pods of every node on
    one machine get distinct addresses, hence port spaces of their own."""
    return "127." + pod_ip.split(".", 1)[1]


class LoopbackSockets:
    """One TCP connection per flow: the payload goes out, the answer is what
    comes back until the server closes (HTTP/1.1 with ``Connection: close``)."""

    max_answer = 64 << 20

    async def exchange(self, ip: str, port: int, payload: bytes, timeout: float, source: str = "") -> bytes:
        """``source``: the flow's source address; the connection comes from it
        moved into 127/8 (as the server's pod address is), so a server sees who called."""
        local = (loopback_address(source), 0) if source.count(".") == 3 else None

        async def run() -> bytes:
            reader, writer = await asyncio.open_connection(ip, port, local_addr=local)
            try:
                if not payload:
                    return b""                     # a connect check (tcpSocket probe)
                writer.write(payload)
                await writer.drain()
                return await _read_all(reader, self.max_answer)
            finally:
                writer.close()
        try:
            return await asyncio.wait_for(run(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{ip}:{port}: no answer within {timeout:g}s") from None


def _complete_http(data: bytes) -> bool:
    """Whether ``data`` is a whole HTTP response by its Content-Length (a
    server that keeps the connection open has still answered)."""
    if not data.startswith(b"HTTP/"):
        return False
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return False
    return False


async def _read_all(reader: asyncio.StreamReader, limit: int) -> bytes:
    data = bytearray()
    while len(data) < limit:
        chunk = await reader.read(65536)
        if not chunk:
            break
        data += chunk
        if _complete_http(bytes(data)):
            break
    return bytes(data)


# ------------------------------------------------------------------ egress
NETSIM_ERROR_HEADER = "X-Netsim-Error"   # on a gateway's 502: which way the flow failed
RESOLVE_PATH = "/resolve"


def _fail(status: int, error: str, text: str) -> bytes:
    return http_response_bytes(status, {"Content-Type": "text/plain; charset=utf-8", NETSIM_ERROR_HEADER: error},
                               text.encode())


class EgressGateway:
    """How a real process's requests enter the pod network: an HTTP proxy on
    the node's gateway address (its pod CIDR's .1, moved into 127/8). A
    process of the pod with loopback address A sends ``GET http://web.app/``
    here from A; the gateway sends it on from that pod's namespace — DNS,
    kube-proxy's rules, routes, as any pod's traffic — and answers with the
    reply, or 502 naming the failure in ``X-Netsim-Error``."""

    def __init__(self, send: Any, pod_ip_of: Any, lookup: Any = None) -> None:
        """``send(src_pod_ip, host, port, payload, timeout) -> Reply``;
        ``pod_ip_of(peer address) -> pod IP`` (None: not one of our pods);
        ``lookup(src_pod_ip, name) -> Resolved`` answers ``GET /resolve?name=N``
        asked of the gateway itself (a pod's ``nslookup``)."""
        self._send = send
        self._lookup = lookup
        self._pod_ip_of = pod_ip_of
        self._server: asyncio.base_events.Server | None = None
        self.address = ""

    async def start(self, ip: str, port: int = 0) -> str:
        self._server = await asyncio.start_server(self._serve, ip, port)
        sock = self._server.sockets[0].getsockname()
        self.address = f"{sock[0]}:{sock[1]}"
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answer = await self._answer(reader, writer.get_extra_info("peername") or ("", 0))
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, peer: tuple) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3:
            return _fail(400, "bad-request", "malformed request line")
        method, target, version = parts
        length = 0
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip() or 0)
            if name.strip().lower() not in ("proxy-connection", "connection", "keep-alive"):
                headers.append(line)
        body = await reader.readexactly(length) if length else b""
        url = urlsplit(target)
        if not url.scheme and url.path == RESOLVE_PATH and self._lookup is not None:
            return await self._resolve(peer[0], parse_qs(url.query).get("name", [""])[0])
        if url.scheme != "http" or not url.hostname:
            return _fail(400, "bad-request", f"the gateway forwards http://HOST/ requests, not {target!r}")
        src = self._pod_ip_of(peer[0])
        if src is None:
            return _fail(403, "unknown-source", f"{peer[0]} is no pod of this node")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        payload = (f"{method} {path} {version}\r\n" + "".join(h + "\r\n" for h in headers)
                   + "Connection: close\r\n\r\n").encode() + body
        reply = await self._send(src, url.hostname, url.port or 80, payload, 30.0)
        return self._reply(reply)

    async def _resolve(self, peer: str, name: str) -> bytes:
        src = self._pod_ip_of(peer)
        if src is None or not name:
            return http_response_bytes(400, {}, b"a pod of this node asks: /resolve?name=NAME")
        try:
            found = await self._lookup(src, name)
        except LookupError as e:
            return http_response_bytes(404, {"Content-Type": "application/json"},
                                       json.dumps({"name": name, "error": str(e)}).encode())
        return http_response_bytes(200, {"Content-Type": "application/json"}, json.dumps(
            {"name": found.fqdn, "addresses": list(found.ips), "server": found.server}).encode())

    @staticmethod
    def _reply(reply: Any) -> bytes:
        if not reply.ok:
            return _fail(502 if reply.error != "timeout" else 504, reply.error, reply.message)
        return reply.payload
