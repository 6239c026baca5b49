"""What travels through the simulated pod network: a flow (one request and
its answer, as one TCP connection or UDP exchange carries them), the hops it
took, and the answer or the error a client would see.

The network is layer 4: a payload goes from (ip, port) to (ip, port) and an
answer comes back. HTTP is a payload like any other; the helpers at the end
turn an HTTP handler into a listener and a request into bytes, so servers
written for either runtime answer here unchanged.
"""
from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Awaitable, Callable

# Reply.error values, and what a client prints for them
REFUSED, NO_ROUTE, TIMEOUT, NXDOMAIN, RESET = "refused", "no-route", "timeout", "nxdomain", "reset"
MESSAGES = {REFUSED: "Connection refused", NO_ROUTE: "No route to host", TIMEOUT: "Connection timed out",
            NXDOMAIN: "Could not resolve host", RESET: "Connection reset by peer"}

EXTERNAL = "external"        # the source of a request from outside the cluster
EXTERNAL_CLIENT_IP = "192.0.2.10"   # TEST-NET-1: where "external" requests come from


@dataclass(frozen=True)
class Hop:
    """One step of a flow: ``where`` (a pod, a node, a component) did ``what``."""
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Flow:
    """One connection's worth of traffic on its way. ``external`` marks a flow
    that entered the cluster from outside (kube-proxy's external-traffic rules
    apply to it); ``hops`` grows as it moves."""
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    protocol: str = "TCP"
    payload: bytes = b""
    timeout: float = 10.0
    external: bool = False
    hops: list[Hop] = field(default_factory=list)

    def hop(self, where: str, what: str) -> None:
        self.hops.append(Hop(where, what))

    @property
    def peer(self) -> str:
        return f"{self.src_ip}:{self.src_port}"


@dataclass
class Reply:
    """The answer to a flow: ``payload`` from the server, or ``error`` (one of
    the module's error names) with ``message``; ``hops`` is the path either way."""
    payload: bytes = b""
    error: str = ""
    message: str = ""
    hops: list[Hop] = field(default_factory=list)
    server: str = ""   # ip:port of the socket that answered

    @property
    def ok(self) -> bool:
        return not self.error

    def raise_for_error(self) -> None:
        """Raise what a socket would: ConnectionRefusedError, OSError(EHOSTUNREACH),
        TimeoutError, socket.gaierror, ConnectionResetError."""
        if not self.error:
            return
        text = self.message or MESSAGES.get(self.error, self.error)
        if self.error == REFUSED:
            raise ConnectionRefusedError(errno.ECONNREFUSED, text)
        if self.error == NO_ROUTE:
            raise OSError(errno.EHOSTUNREACH, text)
        if self.error == TIMEOUT:
            raise TimeoutError(errno.ETIMEDOUT, text)
        if self.error == NXDOMAIN:
            raise socket.gaierror(socket.EAI_NONAME, text)
        raise ConnectionResetError(errno.ECONNRESET, text)

    def path(self) -> str:
        """The hops, one per line (what ``raykube net curl`` prints)."""
        return "\n".join(f"  {i + 1}. {h}" for i, h in enumerate(self.hops))


def failed(flow: Flow, error: str, message: str = "") -> Reply:
    return Reply(error=error, message=message or MESSAGES[error], hops=list(flow.hops))


# (method, path, headers, body, client address) -> (status, headers, body)
HTTPHandler = Callable[[str, str, dict[str, str], bytes, str], Awaitable[tuple[int, dict[str, str], bytes]]]

# (payload, peer "ip:port") -> answer
Listener = Callable[[bytes, str], Awaitable[bytes]]


# ------------------------------------------------------------------ HTTP
def http_request_bytes(method: str, host: str, port: int, path: str, body: bytes = b"",
                       headers: dict[str, str] | None = None) -> bytes:
    """An HTTP/1.1 request that closes its connection after the answer."""
    hostport = host if port == 80 else f"{host}:{port}"
    lines = [f"{method.upper()} {path or '/'} HTTP/1.1", f"Host: {hostport}", "User-Agent: raykube-netsim",
             "Accept: */*", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body or method.upper() in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _split_head(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = data.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    if not lines:
        raise ValueError("empty HTTP message")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, colon, v = line.partition(":")
        if colon:
            headers[k.strip().title()] = v.strip()
    body = rest
    if "Content-Length" in headers:
        try:
            body = rest[:int(headers["Content-Length"])]
        except ValueError:
            pass
    return lines[0], headers, body


def parse_http_request(data: bytes) -> tuple[str, str, dict[str, str], bytes]:
    """(method, path, headers, body) of a request; ValueError when it is not HTTP."""
    first, headers, body = _split_head(data)
    parts = first.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError(f"not an HTTP request line: {first[:60]!r}")
    return parts[0].upper(), parts[1], headers, body


def parse_http_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a response; ValueError when it is not HTTP."""
    first, headers, body = _split_head(data)
    parts = first.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {first[:60]!r}")
    return int(parts[1]), headers, body


def http_response_bytes(status: int, headers: dict[str, str], body: bytes) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    lines = [f"HTTP/1.1 {status} {phrase}".rstrip()]
    for k, v in headers.items():
        if k.lower() not in ("content-length", "connection"):
            lines.append(f"{k}: {v}")
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_listener(handler: HTTPHandler) -> Listener:
    """A listener answering HTTP with ``handler`` (what ``serve_http`` binds);
    a payload that is not HTTP gets 400, as a Go server answers."""
    async def listen(payload: bytes, peer: str) -> bytes:
        try:
            method, path, headers, body = parse_http_request(payload)
        except ValueError:
            return http_response_bytes(400, {"Content-Type": "text/plain; charset=utf-8"}, b"400 Bad Request")
        status, out_headers, out = await handler(method, path, headers, body, peer)
        return http_response_bytes(int(status), dict(out_headers), out if isinstance(out, bytes) else
                                   str(out).encode())
    return listen
