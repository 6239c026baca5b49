"""``kubectl exec`` and ``kubectl logs -f`` end to end in one process: the HTTP
front (WebSocket channel protocol, chunked text), the apiserver's handler, a
kubelet and the sim runtime. What crosses Ray between them in a cluster goes
through the same calls here (``serve_call`` and ``kubelet_answer``)."""
from __future__ import annotations

import json

import aiohttp

from actors.apiserver.handler import KUBELET_ANNOTATION
from actors.apiserver.auth import TokenAuthenticator, UserInfo
from actors.apiserver.http import HTTPFront
from actors.apiserver.server import APIServer
from actors.apiserver.storage import LocalKV
from actors.apiserver.streams import kubelet_answer
from actors.kubelet.actor import serve_call
from tests.fakes import eventually

from .ctrl_fakes import run
from .test_kubelet import NODE, cluster, container, get, pod

TOKEN = "admin-token"
PODS = "/api/v1/namespaces/ns/pods"
V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"


class Stack:
    """An apiserver whose kubelet calls reach an in-process kubelet, served over HTTP."""

    def __init__(self) -> None:
        self.kubelet = None
        self.server = APIServer(LocalKV(), kubelets=self._call)
        self.front = HTTPFront(self.server, TokenAuthenticator({TOKEN: UserInfo("admin", ("system:masters",))}))
        self.base = ""
        self.http: aiohttp.ClientSession | None = None

    async def _call(self, actor, node, call, args, kw):
        return await kubelet_answer(node, call, args, serve_call(self.kubelet, call, args, kw))

    async def start(self, kubelet) -> None:
        self.kubelet = kubelet
        self.base = f"http://127.0.0.1:{await self.front.start('127.0.0.1', 0)}"
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})

    async def stop(self) -> None:
        await self.http.close()
        await self.front.stop()

    async def exec(self, name: str, *command: str, protocol: str = V5, send: list[bytes] = (), text: str = "",
                   **flags: bool):
        """Run an exec over the WebSocket: (stdout, stderr, final Status), after sending ``send``."""
        q = [("command", c) for c in command] + [(k, "true") for k, v in
                                                  {"stdout": True, "stderr": True, **flags}.items() if v]
        out, err, status = bytearray(), bytearray(), None
        async with self.http.ws_connect(f"{self.base}{PODS}/{name}/exec", params=q, protocols=(protocol,)) as ws:
            assert ws.protocol == protocol
            for frame in send:
                await ws.send_bytes(frame)
            if text:
                await ws.send_str(text)
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                channel, data = msg.data[0], msg.data[1:]
                if channel == 1:
                    out += data
                elif channel == 2:
                    err += data
                elif channel == 3:
                    status = json.loads(data)
        return bytes(out), bytes(err), status


def with_stack(body):
    async def go() -> None:
        stack = Stack()
        async with cluster(stack.server) as (client, kubelet, runtime):
            async def registered() -> bool:
                return bool((await client.list("nodes"))["items"])
            await eventually(registered, "the node registered")
            await client.patch("nodes", NODE, {"metadata": {"annotations": {KUBELET_ANNOTATION: "kubelet-x"}}})
            await stack.start(kubelet)
            try:
                await body(stack, client, runtime)
            finally:
                await stack.stop()
    run(go(), timeout=60)


async def running(client, name: str) -> None:
    async def up() -> bool:
        return ((await get(client, name)).get("status") or {}).get("phase") == "Running"
    await eventually(up, f"pod {name} Running")


def test_exec_runs_a_command_with_its_output_and_exit_code():
    async def body(stack: Stack, client, runtime) -> None:
        await client.create(pod("web", container("c", "busybox:1.36", "sleep", "3600")))
        await running(client, "web")
        out, err, status = await stack.exec("web", "sh", "-c", "echo hi; echo oops >&2; exit 3")
        assert (out, err) == (b"hi\n", b"oops\n")
        assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
        out, _, status = await stack.exec("web", "echo", "fine", protocol=V4)
        assert out == b"fine\n" and status == {"metadata": {}, "status": "Success"}
        out, _, status = await stack.exec("web", "sh", protocol=V4, stdin=True, text="\x00echo as text; exit 0\n")
        assert out == b"as text\n" and status["status"] == "Success"   # the Python client's text frames
        # stdin, closed the v5 way; the shell reads commands from it
        out, _, status = await stack.exec("web", "sh", stdin=True,
                                          send=[b"\x00echo $((6 * 7))\n", b"\x00cat /nope\n", b"\xff\x00"])
        assert out == b"42\n" and status["details"]["causes"][0]["message"] == "1"
        assert len(runtime.streams) == 0           # every session ended with its command
    with_stack(body)


def test_exec_on_a_terminal_prompts_echoes_and_resizes():
    async def body(stack: Stack, client, runtime) -> None:
        await client.create(pod("web", container("c", "busybox:1.36", "sleep", "3600")))
        await running(client, "web")
        out, err, status = await stack.exec(
            "web", "sh", stdin=True, tty=True, stderr=False,
            send=[b'\x04{"Width":100,"Height":30}', b"\x00echo hi\r", b"\x00exit 7\r"])
        text = out.decode()
        # typed-ahead lines are echoed as they arrive; the answer comes with NL as CR NL
        assert text.startswith("/ # echo hi\r\n") and "\r\nhi\r\n/ # " in text and err == b""
        assert status["details"]["causes"][0]["message"] == "7"
    with_stack(body)


def sessions(runtime, n: int):
    async def check() -> bool:
        return len(runtime.streams) == n
    return check


def test_exec_refusals_and_a_client_that_leaves():
    async def body(stack: Stack, client, runtime) -> None:
        await client.create(pod("web", container("c", "busybox:1.36", "sleep", "3600")))
        await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending", "namespace": "ns"},
                             "spec": {"containers": [container("c", "busybox:1.36", "sleep", "1")]}})
        await running(client, "web")
        plain = await stack.http.get(f"{stack.base}{PODS}/web/exec?command=true&stdout=true")
        assert plain.status == 400 and "WebSocket" in (await plain.json())["message"]
        # without a WebSocket (kubectl's SPDY fallback) what is wrong with the request is said first
        plain = await stack.http.post(f"{stack.base}{PODS}/web/exec?command=true&stdout=true&container=nope")
        assert plain.status == 400 and (await plain.json())["message"] == "container nope is not valid for pod web"
        assert len(runtime.streams) == 0
        for query, message in (("stdout=true", "you must specify at least 1 command"),
                               ("command=true", "you must specify at least 1 of stdin, stdout, stderr"),
                               ("command=true&stdout=true&container=nope", "container nope is not valid for pod web")):
            try:
                async with stack.http.ws_connect(f"{stack.base}{PODS}/web/exec?{query}", protocols=(V5,)):
                    raise AssertionError(f"{query} was upgraded")
            except aiohttp.WSServerHandshakeError as e:
                assert e.status == 400, (query, e)
            r = await stack.http.get(f"{stack.base}{PODS}/web/exec?{query}", headers={
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": V5})
            assert r.status == 400 and (await r.json())["message"] == message
        r = await stack.http.get(f"{stack.base}{PODS}/pending/exec?command=true&stdout=true", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": V5})
        assert r.status == 400 and (await r.json())["message"] == "pod pending does not have a host assigned"
        # a client that goes away mid-command: the command is killed and its session dropped
        async with stack.http.ws_connect(f"{stack.base}{PODS}/web/exec",
                                         params=[("command", "sleep"), ("command", "3600"), ("stdout", "true")],
                                         protocols=(V5,)):
            await eventually(sessions(runtime, 1), "the exec session")
        await eventually(sessions(runtime, 0), "the session cancelled")
    with_stack(body)


def test_logs_follow_streams_until_the_container_ends():
    async def body(stack: Stack, client, runtime) -> None:
        await client.create(pod("talk", container("c", "busybox:1.36", "sh", "-c",
                                                  "for i in 1 2 3; do echo line $i; sleep 0.3; done"),
                                restartPolicy="Never"))

        async def started() -> bool:
            return bool(((await get(client, "talk")).get("status") or {}).get("containerStatuses"))
        await eventually(started, "the container started")
        async with stack.http.get(f"{stack.base}{PODS}/talk/log?follow=true") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
            chunks = []
            async for chunk in r.content.iter_any():
                chunks.append(chunk)
        assert b"".join(chunks) == b"line 1\nline 2\nline 3\n"
        assert len(chunks) >= 2                     # it came as it was written, not at the end
        r = await stack.http.get(f"{stack.base}{PODS}/talk/log?tailLines=1&limitBytes=4")
        assert await r.text() == "line"
        r = await stack.http.get(f"{stack.base}{PODS}/talk/log?sinceSeconds=3600")
        assert await r.text() == "line 1\nline 2\nline 3\n"
        r = await stack.http.get(f"{stack.base}{PODS}/talk/log?sinceTime=2999-01-01T00:00:00Z")
        assert await r.text() == ""
        r = await stack.http.get(f"{stack.base}{PODS}/talk/log?sinceSeconds=5&sinceTime=2000-01-01T00:00:00Z")
        assert r.status == 422
        r = await stack.http.get(f"{stack.base}{PODS}/talk/log?follow=true&container=nope")
        assert r.status == 400 and (await r.json())["message"] == "container nope is not valid for pod talk"
    with_stack(body)
