"""The real-OS container world, for the ``process`` runtime: real time, files
under the container's directory, HTTP served by aiohttp on the pod's own
loopback address (each pod gets a distinct 127.x.y.z, hence its own port
space) and a real HTTP client whose ``localhost`` is that address."""
from __future__ import annotations

import asyncio
import errno
import json
import os
import posixpath
import sys
import threading
import time
from typing import BinaryIO
from urllib.parse import quote

import aiohttp
from aiohttp import web

from .base import HTTPHandler, ProgramExit, Stdin, forever, run_program, to_bytes
from netsim.pods import split_url
from netsim.host import Resolved
from netsim.realsockets import NETSIM_ERROR_HEADER, RESOLVE_PATH
from netsim.traffic import Reply

from .simctx import LOOPBACK

SHUTDOWN_TIMEOUT = 2.0   # seconds a closing server waits for requests in flight


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _pump_fd(fd: int, into: Stdin, loop: asyncio.AbstractEventLoop) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:          # EIO: the terminal's other side closed
            data = b""
        try:
            loop.call_soon_threadsafe(into.feed if data else into.close, *((data,) if data else ()))
        except RuntimeError:     # the loop is gone: the program ended
            return
        if not data:
            return


class OSContext:
    """A program in a real process. ``cwd`` is the container's directory and
    acts as its root: ``/etc/x`` and ``etc/x`` are both ``<cwd>/etc/x``."""

    simulated = False

    def __init__(self, env: dict[str, str], hostname: str, cwd: str, bind_ip: str = "127.0.0.1", *,
                 ip: str = "", gateway: str = "", out: BinaryIO | None = None,
                 err: BinaryIO | None = None) -> None:
        """``bind_ip``: where servers listen on this machine; ``ip``: the pod's
        address in the pod network (the same when there is none); ``gateway``:
        host:port of the node's egress gateway, through which requests to
        anything but this machine's loopback go into the pod network."""
        self.env = dict(env)
        self.hostname = hostname
        self.cwd = cwd
        self.bind_ip = bind_ip
        self.ip = ip or bind_ip
        self.gateway = gateway
        self._out = out
        self._err = err
        self._held: list[bytearray] = []
        self._stdin: Stdin | None = None
        self.tty = _isatty(0)

    @property
    def stdin(self) -> Stdin:
        """fd 0, read by a daemon thread from the first use on (a blocked read
        must not keep the process from exiting)."""
        if self._stdin is None:
            self._stdin = Stdin()
            loop = asyncio.get_running_loop()
            threading.Thread(target=_pump_fd, args=(0, self._stdin, loop), daemon=True).start()
        return self._stdin

    # ------------------------------------------------------------ output
    @staticmethod
    def _write(stream: BinaryIO, data: str | bytes) -> None:
        try:
            stream.write(to_bytes(data))
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away: output is lost, as in a container
            pass

    def stdout(self, data: str | bytes) -> None:
        self._write(self._out or sys.stdout.buffer, data)

    def stderr(self, data: str | bytes) -> None:
        self._write(self._err or sys.stderr.buffer, data)

    # ------------------------------------------------------------ time, exit
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, float(seconds)))

    def exit(self, code: int) -> None:
        raise ProgramExit(code)

    # ------------------------------------------------------------ files
    def host_path(self, path: str) -> str:
        """The real path of a container path (never outside ``cwd``)."""
        inside = posixpath.normpath("/" + path).lstrip("/")
        return os.path.join(self.cwd, inside) if inside else self.cwd

    def read_file(self, path: str) -> bytes:
        with open(self.host_path(path), "rb") as f:
            return f.read()

    def write_file(self, path: str, data: bytes) -> None:
        real = self.host_path(path)
        os.makedirs(os.path.dirname(real), exist_ok=True)
        with open(real, "wb") as f:
            f.write(to_bytes(data))

    def remove_file(self, path: str) -> None:
        os.remove(self.host_path(path))

    # ------------------------------------------------------------ network
    async def serve_http(self, port: int, handler: HTTPHandler) -> None:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            body = await request.read()
            peer = request.transport.get_extra_info("peername") if request.transport else None
            client = f"{peer[0]}:{peer[1]}" if peer else ""
            try:
                status, headers, data = await handler(request.method, request.path_qs,
                                                      dict(request.headers), body, client)
            except Exception as e:  # a broken handler answers 500, as a crashed request would
                return web.Response(status=500, text=f"{type(e).__name__}: {e}")
            return web.Response(status=status, headers=headers, body=to_bytes(data))

        runner = web.ServerRunner(web.Server(handle), handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.bind_ip, int(port), shutdown_timeout=SHUTDOWN_TIMEOUT)
            await site.start()
            await forever()
        finally:
            await asyncio.shield(runner.cleanup())

    async def http_request(self, method: str, url: str, body: bytes = b"",
                           timeout: float = 10.0) -> tuple[int, bytes]:
        host, port, path = split_url(url)
        if host in LOOPBACK:
            host = self.bind_ip
        proxy = f"http://{self.gateway}" if self.gateway and not host.startswith("127.") else None
        local = (self.bind_ip, 0) if (proxy or host.startswith("127.")) and self.bind_ip.startswith("127.") \
            else None
        target = f"http://{host}:{port}{path}"
        connector = aiohttp.TCPConnector(local_addr=local, force_close=True)
        try:
            async with aiohttp.ClientSession(connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.request(method.upper(), target, data=body or None, proxy=proxy) as resp:
                    failed = resp.headers.get(NETSIM_ERROR_HEADER) if proxy else None
                    data = await resp.read()
                    if failed:   # the flow failed inside the pod network: the error its socket would see
                        Reply(error=failed, message=data.decode(errors="replace")).raise_for_error()
                    return resp.status, data
        except asyncio.TimeoutError as e:
            raise TimeoutError(f"{method} {url}: timed out after {timeout}s") from e
        except aiohttp.ClientConnectorError as e:
            code = e.os_error.errno if e.os_error is not None else None
            if code == errno.ECONNREFUSED:
                raise ConnectionRefusedError(code, "Connection refused") from e
            raise OSError(code or errno.EIO, os.strerror(code) if code else str(e)) from e
        except aiohttp.ClientError as e:
            raise OSError(errno.EIO, f"{type(e).__name__}: {e}") from e

    async def lookup(self, name: str) -> Resolved:
        """Asked of the node's egress gateway, which resolves as the pod's resolver would."""
        if not self.gateway:
            raise LookupError(f"{name}: no pod network to ask (no gateway)")
        status, body = await self.http_request("GET", f"http://{self.gateway}{RESOLVE_PATH}?name={quote(name)}",
                                               timeout=10.0)
        data = json.loads(body or b"{}")
        if status != 200:
            raise LookupError(data.get("error") or f"{name}: HTTP {status}")
        return Resolved(name, tuple(data["addresses"]), data["name"], data["server"])

    # ------------------------------------------------------------ processes
    async def run(self, argv: list[str]) -> int:
        return await run_program(self, argv)

    def allocate(self, nbytes: int) -> None:
        block = bytearray(max(0, int(nbytes)))
        for i in range(0, len(block), 4096):  # touch every page so it is resident
            block[i] = 1
        self._held.append(block)
