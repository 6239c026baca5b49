"""The simulated container world: a program runs in-process with injected time,
in-memory files and a pluggable network, so a node can host thousands of
containers and a test can move time by hand.

The network is an object with ``listen``/``request``: a node's
:class:`netsim.pods.PodNetwork`, through which pods reach each other, Services
and DNS names.
"""
from __future__ import annotations

import errno
import posixpath
from typing import Any, Awaitable, Callable, Protocol

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

    async def lookup(self, src_ip: str, name: str) -> Any:
        """``name`` resolved for the pod with ``src_ip`` (netsim.host.Resolved); LookupError if not."""


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

    async def lookup(self, name: str) -> Any:
        return await self._network.lookup(self.ip, name)

    # ------------------------------------------------------------ processes
    async def run(self, argv: list[str]) -> int:
        return await run_program(self, argv)

    def allocate(self, nbytes: int) -> None:
        self.allocated += max(0, int(nbytes))
