"""The simulated container world: a program runs in-process with injected time,
in-memory files and a pluggable network, so a node can host thousands of
containers and a test can move time by hand.

The network is an object with ``listen``/``request``; :class:`LocalNetwork`
wires pods together in-process by their sandbox IPs until the real network
simulator replaces it.
"""
from __future__ import annotations

import asyncio
import errno
import itertools
import posixpath
from typing import Awaitable, Callable, Protocol
from urllib.parse import urlsplit

from .base import HTTPHandler, ProgramExit, Stdin, forever, run_program, to_bytes

Closer = Callable[[], None]
Sleep = Callable[[float], Awaitable[None]]
OutputSink = Callable[[str, bytes], None]   # (stream "stdout"|"stderr", data)

LOOPBACK = ("localhost", "127.0.0.1", "::1")


class Network(Protocol):
    """What a simulated pod's network offers its programs."""

    async def listen(self, ip: str, port: int, handler: HTTPHandler) -> Closer:
        """Answer HTTP on (ip, port) with ``handler`` until the closer is called;
        OSError(EADDRINUSE) when the port is taken on that IP."""

    async def request(self, src_ip: str, method: str, url: str, body: bytes = b"",
                      timeout: float = 10.0) -> tuple[int, bytes]:
        """An HTTP request from ``src_ip``: (status, body). ConnectionRefusedError
        when nothing listens, OSError(EHOSTUNREACH) for an unknown host,
        TimeoutError when the answer takes longer than ``timeout``."""


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


class LocalNetwork:
    """Pods talking in-process: (ip, port) -> handler. Host names are taken as
    IPs literally; ``localhost`` is the caller's own IP. An IP is known once
    something listens on it, it was added with :meth:`add_host`, or it is the
    caller's; other IPs have no route."""

    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        self._sleep = sleep
        self._listeners: dict[tuple[str, int], HTTPHandler] = {}
        self._hosts: set[str] = set()
        self._ports = itertools.count(32768)

    def add_host(self, ip: str) -> None:
        self._hosts.add(ip)

    def remove_host(self, ip: str) -> None:
        self._hosts.discard(ip)

    def listening(self, ip: str) -> list[int]:
        """The ports open on ``ip`` (for status and tests)."""
        return sorted(p for (i, p) in self._listeners if i == ip)

    async def listen(self, ip: str, port: int, handler: HTTPHandler) -> Closer:
        key = (ip, int(port))
        if key in self._listeners:
            raise OSError(errno.EADDRINUSE, f"listen tcp {ip}:{port}: bind: address already in use")
        self._listeners[key] = handler

        def close() -> None:
            if self._listeners.get(key) is handler:
                del self._listeners[key]
        return close

    async def request(self, src_ip: str, method: str, url: str, body: bytes = b"",
                      timeout: float = 10.0) -> tuple[int, bytes]:
        host, port, path = split_url(url)
        if host in LOOPBACK:
            host = src_ip
        handler = self._listeners.get((host, port))
        if handler is None:
            if host == src_ip or host in self._hosts or self.listening(host):
                raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
            raise OSError(errno.EHOSTUNREACH, "No route to host")
        headers = {"Host": f"{host}:{port}", "Content-Length": str(len(body))}
        call = asyncio.ensure_future(handler(method.upper(), path, headers, body,
                                             f"{src_ip}:{next(self._ports)}"))
        timer = asyncio.ensure_future(self._sleep(timeout))
        try:
            await asyncio.wait({call, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not call.done():
                call.cancel()
        if not call.done() or call.cancelled():
            raise TimeoutError(f"{method} {url}: timed out after {timeout}s")
        if call.exception() is not None:
            return 500, f"{type(call.exception()).__name__}: {call.exception()}".encode()
        status, _, data = call.result()
        return int(status), to_bytes(data)


class SimContext:
    """A container's program running in-process: stdout/stderr go to
    ``on_output`` (the runtime writes the CRI log), time is the injected clock,
    files live in ``files`` (a dict shared by the container's processes, keyed
    by absolute path), the network is ``network`` as seen from ``ip``."""

    simulated = True

    def __init__(self, env: dict[str, str], hostname: str, ip: str, *,
                 clock: Callable[[], float], sleep: Sleep, network: Network,
                 files: dict[str, bytes] | None = None,
                 on_output: OutputSink | None = None, cwd: str = "/",
                 stdin: Stdin | None = None, tty: bool = False) -> None:
        self.env = dict(env)
        self.stdin = stdin or Stdin.empty()
        self.tty = tty
        self.hostname = hostname
        self.ip = ip
        self.cwd = cwd or "/"
        self.files: dict[str, bytes] = {} if files is None else files
        self.allocated = 0
        self.output: list[tuple[str, bytes]] = []   # kept when there is no on_output
        self._clock = clock
        self._sleep = sleep
        self._network = network
        self._on_output = on_output

    # ------------------------------------------------------------ output
    def _emit(self, stream: str, data: str | bytes) -> None:
        raw = to_bytes(data)
        if not raw:
            return
        if self._on_output is not None:
            self._on_output(stream, raw)
        else:
            self.output.append((stream, raw))

    def stdout(self, data: str | bytes) -> None:
        self._emit("stdout", data)

    def stderr(self, data: str | bytes) -> None:
        self._emit("stderr", data)

    def text(self, stream: str = "stdout") -> str:
        """What went to ``stream`` so far (without an ``on_output``)."""
        return b"".join(d for s, d in self.output if s == stream).decode(errors="replace")

    # ------------------------------------------------------------ time, exit
    def now(self) -> float:
        return self._clock()

    async def sleep(self, seconds: float) -> None:
        await self._sleep(max(0.0, float(seconds)))

    def exit(self, code: int) -> None:
        raise ProgramExit(code)

    # ------------------------------------------------------------ files
    def _abs(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.cwd, path))

    def read_file(self, path: str) -> bytes:
        p = self._abs(path)
        if p in self.files:
            return self.files[p]
        if any(k.startswith(p.rstrip("/") + "/") for k in self.files):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)

    def write_file(self, path: str, data: bytes) -> None:
        self.files[self._abs(path)] = to_bytes(data)

    def remove_file(self, path: str) -> None:
        if self.files.pop(self._abs(path), None) is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)

    # ------------------------------------------------------------ network
    async def serve_http(self, port: int, handler: HTTPHandler) -> None:
        close = await self._network.listen(self.ip, port, handler)
        try:
            await forever()
        finally:
            close()

    async def http_request(self, method: str, url: str, body: bytes = b"",
                           timeout: float = 10.0) -> tuple[int, bytes]:
        return await self._network.request(self.ip, method, url, body, timeout)

    # ------------------------------------------------------------ processes
    async def run(self, argv: list[str]) -> int:
        return await run_program(self, argv)

    def allocate(self, nbytes: int) -> None:
        self.allocated += max(0, int(nbytes))
