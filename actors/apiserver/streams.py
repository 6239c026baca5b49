"""The HTTP front's streams to kubelets: ``kubectl logs -f`` (chunked text) and
``kubectl exec`` (a WebSocket speaking the Kubernetes channel protocol).

Both are polls of the kubelet under the hood (``follow_logs`` pages,
``exec_stream`` calls), so nothing stays open across Ray but a cursor or a
session id; the client sees one stream.

The channel protocol (``v5.channel.k8s.io``, ``v4.channel.k8s.io``): every
binary message starts with its channel byte: 0 stdin, 1 stdout, 2 stderr,
3 the final Status (JSON), 4 terminal resize (``{"Width":..,"Height":..}``);
v5 adds 255, whose payload ``[0]`` closes stdin.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

from kubeapi import errors

from ..cri import api as cri_api
from .handler import KubeletStream

log = logging.getLogger("raykube.http")

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
POLL_WAIT = 1.0          # seconds a poll of the kubelet waits for output

KubeletCall = Callable[[str, str, str, tuple, dict], Awaitable[Any]]


async def kubelet_answer(node: str, call: str, args: tuple, pending: Awaitable[Any]) -> Any:
    """The answer of a kubelet's ``call``, its typed CRI errors worded as the apiserver's."""
    try:
        return await pending
    except (cri_api.InvalidArgument, cri_api.FailedPrecondition) as e:
        raise errors.bad_request(e.message) from None
    except cri_api.NotFound as e:
        if call in ("logs", "follow_logs", "exec"):
            raise errors.not_found("pods", args[1]) from None
        raise errors.ApiError(404, "NotFound", e.message) from None
    except cri_api.CRIError as e:
        raise errors.internal(f"the runtime of node {node}: {e.message}") from None


def wants_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def exit_status(code: int) -> dict:
    """The Status on the error channel that ends an exec: kubectl exits with ``code``."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def follow_logs(request: web.Request, stream: KubeletStream, call: KubeletCall) -> web.StreamResponse:
    """``logs?follow=true``: pages of the log as they are written, until the
    container ends or the client goes away."""
    opts = {k: v for k, v in stream.options.items() if k != "first"}
    page = stream.options["first"]
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain",
                                                   "Transfer-Encoding": "chunked"})
    await resp.prepare(request)
    try:
        while True:
            if page.text:
                await resp.write(page.text.encode())
            if page.done or _gone(request):
                break
            page = await call(stream.actor, stream.node, "follow_logs", stream.args,
                              dict(opts, cursor=page.cursor, wait=POLL_WAIT))
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    except errors.ApiError as e:   # the kubelet went away mid-stream: say so in the text, as upstream's does
        log.info("log stream of %s ended: %s", stream.args[:2], e)
        try:
            await resp.write(f"unable to retrieve container logs: {e}\n".encode())
            await resp.write_eof()
        except ConnectionResetError:
            pass
    return resp


class ExecBridge:
    """One ``kubectl exec`` WebSocket and its kubelet session. A poll loop waits
    for output; each stdin message goes out at once in a call of its own; the
    output both return is written in the order it was taken (``seq``)."""

    def __init__(self, ws: web.WebSocketResponse, stream: KubeletStream, call: KubeletCall) -> None:
        self.ws = ws
        self.stream = stream
        self.call = call
        self.session = stream.options["session"]
        self.v5 = ws.ws_protocol == EXEC_PROTOCOLS[0]
        self.exit_code: int | None = None
        self._next = 1
        self._held: dict[int, cri_api.ExecOutput] = {}
        self._done = asyncio.Event()

    async def _kubelet(self, **kw: Any) -> cri_api.ExecOutput | None:
        try:
            return await self.call(self.stream.actor, self.stream.node, "exec_stream", (self.session,), kw)
        except errors.ApiError as e:
            if errors.is_not_found(e):   # the session ended (its exit went out on another call)
                return None
            raise

    async def _deliver(self, out: cri_api.ExecOutput | None) -> None:
        if out is None or not out.seq:
            return
        self._held[out.seq] = out
        while self._next in self._held:
            out = self._held.pop(self._next)
            self._next += 1
            if out.stdout:
                await self.ws.send_bytes(bytes([STDOUT]) + out.stdout)
            if out.stderr:
                await self.ws.send_bytes(bytes([STDERR]) + out.stderr)
            if out.exit_code is not None:
                self.exit_code = out.exit_code
                self._done.set()

    async def _output(self) -> None:
        while not self._done.is_set():
            out = await self._kubelet(wait=POLL_WAIT)
            if out is None:
                return
            await self._deliver(out)

    async def _input(self) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:   # the Python client sends a str as a text frame
                data = msg.data.encode()
            elif msg.type == WSMsgType.BINARY:
                data = msg.data
            else:
                continue
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN and payload:
                await self._deliver(await self._kubelet(stdin=payload, wait=0.0))
            elif channel == RESIZE:
                try:
                    size = json.loads(payload or b"{}")
                    resize = (int(size.get("Width", 0)), int(size.get("Height", 0)))
                except (ValueError, TypeError, AttributeError):
                    continue
                await self._deliver(await self._kubelet(resize=resize, wait=0.0))
            elif channel == CLOSE and self.v5 and payload[:1] == bytes([STDIN]):
                await self._deliver(await self._kubelet(close_stdin=True, wait=0.0))

    async def run(self) -> None:
        """Bridge until the command ends (its Status goes out on the error channel)
        or the client leaves."""
        output = asyncio.ensure_future(self._output())
        reader = asyncio.ensure_future(self._input())
        try:
            await asyncio.wait({output, reader}, return_when=asyncio.FIRST_COMPLETED)
            if output.done() and output.exception() is not None:
                raise output.exception()  # type: ignore[misc]
            if self.exit_code is not None:
                await self.ws.send_bytes(bytes([ERROR]) + json.dumps(exit_status(self.exit_code)).encode())
        finally:
            for t in (output, reader):
                t.cancel()
            await asyncio.gather(output, reader, return_exceptions=True)


def offered_protocol(request: web.Request) -> str:
    """The channel protocol the client offers that is served here ("" if none)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    return next((p for p in offered if p in EXEC_PROTOCOLS), "")


async def exec_websocket(request: web.Request, stream: KubeletStream, call: KubeletCall) -> web.WebSocketResponse:
    """Upgrade to the channel protocol and bridge it to the kubelet's session
    (cancelled unless the command ran to its end)."""
    bridge = None
    ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, autoping=True, max_msg_size=16 * 1024 * 1024)
    try:
        await ws.prepare(request)
        bridge = ExecBridge(ws, stream, call)
        try:
            await bridge.run()
        except errors.ApiError as e:
            await ws.send_bytes(bytes([ERROR]) + json.dumps(e.status()).encode())
        await ws.close()
        return ws
    except (ConnectionResetError, asyncio.CancelledError):
        return ws
    finally:
        if bridge is None or bridge.exit_code is None:   # the client left first, or the kubelet failed
            try:
                await call(stream.actor, stream.node, "exec_cancel", (stream.options["session"],), {})
            except errors.ApiError:
                pass
