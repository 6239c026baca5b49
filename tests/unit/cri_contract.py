"""The CRI RuntimeService contract every runtime (sim, process) must keep,
written once: a runtime's test module subclasses :class:`RuntimeContract`
(``class TestSimContract(RuntimeContract)``) and provides

- ``async runtime() -> (runtime, images)``: a fresh runtime and its ImageStore
  (``self.tmp_path`` is the test's temporary directory);
- ``async settle(seconds)``: let ``seconds`` of the runtime's time pass (the
  sim advances its fake clock; the process runtime really sleeps).

The class has no ``Test`` prefix so this module collects nothing itself.
Every test body is ``async def check_*(self, rt, images)``; the subclass gets
a ``test_*`` for each, run in a fresh event loop with a real-time cap, and the
runtime is closed afterwards.
"""
from __future__ import annotations

import asyncio
import inspect
import re
from typing import Any, Awaitable, Callable

import pytest

from actors.cri import api

BUSYBOX = "busybox:1.36"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.52"

# <RFC3339Nano> <stream> <F|P> <text>
CRI_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) "
                      r"(stdout|stderr) ([FP]) (.*)$")


def _as_test(name: str) -> Callable[[Any], None]:
    """A sync pytest test running the check ``name`` (looked up on the instance, so a
    subclass may override a check) in a fresh event loop: no pytest-asyncio here."""
    def test(self: "RuntimeContract") -> None:
        self._run(getattr(self, name))
    test.__name__ = "test_" + name.removeprefix("check_")
    return test


class RuntimeContract:
    """Runtime-independent CRI RuntimeService tests (see the module docstring)."""

    runtime_name = ""        # what Version() must answer
    time_limit = 60.0        # real seconds a test may take
    step = 0.05              # the runtime seconds one polling step lets pass
    stop_grace = 2           # StopContainer's timeout in the stop tests

    def __init_subclass__(cls, **kw: Any) -> None:
        """Each ``check_*`` becomes a ``test_*`` of the concrete subclass only."""
        super().__init_subclass__(**kw)
        for name in dir(cls):
            test = "test_" + name.removeprefix("check_")
            if name.startswith("check_") and not hasattr(cls, test):
                setattr(cls, test, _as_test(name))

    @pytest.fixture(autouse=True)
    def _contract_tmp(self, tmp_path):
        self.tmp_path = tmp_path

    # ------------------------------------------------------ subclass hooks
    async def runtime(self) -> tuple[Any, Any]:
        raise NotImplementedError

    async def settle(self, seconds: float) -> None:
        raise NotImplementedError

    async def close(self, rt: Any) -> None:
        close = getattr(rt, "close", None)
        if close is not None:
            done = close()
            if inspect.isawaitable(done):
                await done

    # -------------------------------------------------------------- helpers
    def _run(self, body: Callable[[Any, Any], Awaitable[None]]) -> None:
        async def main() -> None:
            rt, images = await self.runtime()
            try:
                await body(rt, images)
            finally:
                await self.close(rt)

        async def capped() -> None:
            await asyncio.wait_for(main(), self.time_limit)

        asyncio.run(capped())

    async def until(self, pred: Callable[[], Any], within: float = 15.0, what: str = "") -> None:
        """Let runtime time pass in small steps until ``pred()`` (sync or async) holds."""
        waited = 0.0
        while True:
            ok = pred()
            if inspect.isawaitable(ok):
                ok = await ok
            if ok:
                return
            if waited >= within:
                raise AssertionError(f"not true after {within}s: {what or pred}")
            await self.settle(self.step)
            waited += self.step

    async def call(self, coro: Awaitable[Any], within: float = 15.0) -> Any:
        """Await a call that may need runtime time to pass (a pull, a stop with grace)."""
        task = asyncio.ensure_future(coro)
        try:
            await self.until(task.done, within, f"call {coro!r} to return")
        finally:
            if not task.done():
                task.cancel()
        return task.result()

    async def pull(self, images: Any, image: str) -> str:
        return await self.call(images.PullImage(api.ImageSpec(image)))

    def sandbox_config(self, name: str, labels: dict[str, str] | None = None) -> api.PodSandboxConfig:
        uid = f"uid-{name}"
        return api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, uid=uid, namespace="default"),
            hostname=name, log_directory=str(self.tmp_path / "pods" / f"default_{name}_{uid}"),
            labels=dict(labels or {}))

    def container_config(self, name: str, image: str = BUSYBOX, command: list[str] | None = None,
                         args: list[str] | None = None, envs: dict[str, str] | None = None,
                         labels: dict[str, str] | None = None, attempt: int = 0) -> api.ContainerConfig:
        return api.ContainerConfig(
            metadata=api.ContainerMetadata(name=name, attempt=attempt), image=api.ImageSpec(image),
            command=list(command or []), args=list(args or []),
            envs=[api.KeyValue(k, v) for k, v in (envs or {}).items()],
            labels=dict(labels or {}), log_path=f"{name}/{attempt}.log")

    async def sandbox(self, rt: Any, name: str, labels: dict[str, str] | None = None) -> tuple[str, api.PodSandboxConfig]:
        config = self.sandbox_config(name, labels)
        return await rt.RunPodSandbox(config), config

    async def container(self, rt: Any, images: Any, sandbox: tuple[str, api.PodSandboxConfig], name: str,
                        command: list[str] | None = None, image: str = BUSYBOX, start: bool = True,
                        **kw: Any) -> str:
        """Pull, create and (by default) start a container; returns its id."""
        await self.pull(images, image)
        sid, sconfig = sandbox
        cid = await rt.CreateContainer(sid, self.container_config(name, image, command, **kw), sconfig)
        if start:
            await rt.StartContainer(cid)
        return cid

    async def state(self, rt: Any, cid: str) -> api.ContainerState:
        return (await rt.ContainerStatus(cid)).state

    async def exited(self, rt: Any, cid: str, within: float = 15.0) -> api.ContainerStatus:
        async def done() -> bool:
            return await self.state(rt, cid) == api.ContainerState.CONTAINER_EXITED
        await self.until(done, within, f"container {cid[:12]} to exit")
        return await rt.ContainerStatus(cid)

    async def running(self, rt: Any, cid: str) -> None:
        assert await self.state(rt, cid) == api.ContainerState.CONTAINER_RUNNING

    async def log_lines(self, rt: Any, cid: str) -> list[str]:
        """The container's CRI log file, read where ContainerStatus says it is."""
        path = (await rt.ContainerStatus(cid)).log_path
        assert path, "ContainerStatus.log_path is empty"
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()

    async def exec_ok(self, rt: Any, cid: str, cmd: list[str], timeout: int = 5) -> bool:
        """ExecSync succeeded (exit 0); False instead of raising when it could not run."""
        try:
            r = await self.call(rt.ExecSync(cid, cmd, timeout), within=timeout + 5)
        except api.CRIError:
            return False
        return r.exit_code == 0

    # ---------------------------------------------------------------- tests
    async def check_version_and_status(self, rt, images):
        v = await rt.Version()
        assert v.runtime_api_version == "v1"
        assert v.runtime_name == self.runtime_name
        conditions = {c.type: c.status for c in (await rt.Status()).conditions}
        assert conditions == {"RuntimeReady": True, "NetworkReady": True}

    async def check_sandbox_lifecycle_and_filters(self, rt, images):
        a, _ = await self.sandbox(rt, "pod-a", {"app": "web"})
        b, _ = await self.sandbox(rt, "pod-b", {"app": "db"})
        assert re.fullmatch(r"[0-9a-f]{64}", a) and re.fullmatch(r"[0-9a-f]{64}", b) and a != b
        sa, sb = await rt.PodSandboxStatus(a), await rt.PodSandboxStatus(b)
        assert sa.state == api.PodSandboxState.SANDBOX_READY
        assert sa.metadata.name == "pod-a" and sa.labels == {"app": "web"}
        assert sa.network.ip and sb.network.ip and sa.network.ip != sb.network.ip
        assert sa.created_at > 0

        assert sorted(s.id for s in await rt.ListPodSandbox()) == sorted([a, b])
        web = await rt.ListPodSandbox(api.PodSandboxFilter(label_selector={"app": "web"}))
        assert [s.id for s in web] == [a]
        assert [s.id for s in await rt.ListPodSandbox(api.PodSandboxFilter(id=b))] == [b]

        await rt.StopPodSandbox(a)
        await rt.StopPodSandbox(a)                   # idempotent
        assert (await rt.PodSandboxStatus(a)).state == api.PodSandboxState.SANDBOX_NOTREADY
        notready = await rt.ListPodSandbox(api.PodSandboxFilter(state=api.PodSandboxState.SANDBOX_NOTREADY))
        assert [s.id for s in notready] == [a]
        ready = await rt.ListPodSandbox(api.PodSandboxFilter(state=api.PodSandboxState.SANDBOX_READY))
        assert [s.id for s in ready] == [b]

        await rt.RemovePodSandbox(a)
        await rt.RemovePodSandbox(a)                 # idempotent for an absent id
        with pytest.raises(api.NotFound):
            await rt.PodSandboxStatus(a)
        assert [s.id for s in await rt.ListPodSandbox()] == [b]

        again, _ = await self.sandbox(rt, "pod-b")   # a new attempt is a new sandbox
        assert again != b

    async def check_create_requires_pulled_image(self, rt, images):
        sid, sconfig = await self.sandbox(rt, "pod")
        with pytest.raises(api.NotFound):
            await rt.CreateContainer(sid, self.container_config("c", BUSYBOX, ["true"]), sconfig)
        image_id = await self.pull(images, BUSYBOX)
        cid = await rt.CreateContainer(sid, self.container_config("c", BUSYBOX, ["true"],
                                                                  labels={"k": "v"}), sconfig)
        st = await rt.ContainerStatus(cid)
        assert st.state == api.ContainerState.CONTAINER_CREATED
        assert st.image_ref == image_id == images.pulled(BUSYBOX).id
        assert st.metadata.name == "c" and st.labels == {"k": "v"}
        assert st.started_at == 0 and st.created_at > 0
        [c] = await rt.ListContainers()
        assert (c.id, c.pod_sandbox_id, c.image_ref) == (cid, sid, image_id)

    async def check_create_in_stopped_sandbox_fails(self, rt, images):
        await self.pull(images, BUSYBOX)
        sid, sconfig = await self.sandbox(rt, "pod")
        await rt.StopPodSandbox(sid)
        with pytest.raises(api.FailedPrecondition):
            await rt.CreateContainer(sid, self.container_config("c", BUSYBOX, ["true"]), sconfig)

    async def check_exit_codes(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        bad = await self.container(rt, images, pod, "bad", ["sh", "-c", "exit 3"])
        good = await self.container(rt, images, pod, "good", ["true"])
        st = await self.exited(rt, bad)
        assert (st.exit_code, st.reason) == (3, "Error")
        assert 0 < st.started_at <= st.finished_at
        assert st.created_at <= st.started_at
        st = await self.exited(rt, good)
        assert (st.exit_code, st.reason) == (0, "Completed")

    async def check_unknown_binary_fails_start(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "ghost", ["/no/such/binary"], start=False)
        with pytest.raises(api.ContainerStartError):
            await rt.StartContainer(cid)
        st = await rt.ContainerStatus(cid)
        assert (st.state, st.exit_code, st.reason) == (api.ContainerState.CONTAINER_EXITED, 128, "StartError")
        assert "/no/such/binary" in st.message

    async def check_logs_in_cri_format(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "talker", ["sh", "-c", "echo hello world; echo bye"])
        await self.exited(rt, cid)
        lines = await self.log_lines(rt, cid)
        parsed = [CRI_LINE.match(line) for line in lines]
        assert all(parsed), lines
        assert [(m.group(2), m.group(3), m.group(4)) for m in parsed] == [
            ("stdout", "F", "hello world"), ("stdout", "F", "bye")]

    async def check_stop_with_grace(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"])
        await self.settle(self.step)
        await self.running(rt, cid)
        await self.call(rt.StopContainer(cid, self.stop_grace), within=self.stop_grace + 10)
        st = await rt.ContainerStatus(cid)
        assert st.state == api.ContainerState.CONTAINER_EXITED
        assert st.exit_code in (137, 143)
        await self.call(rt.StopContainer(cid, self.stop_grace))   # idempotent on an exited container
        assert (await rt.ContainerStatus(cid)).exit_code == st.exit_code

    async def check_stop_sandbox_stops_its_containers(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"])
        await self.settle(self.step)
        await self.call(rt.StopPodSandbox(pod[0]))
        st = await self.exited(rt, cid)
        assert st.exit_code in (137, 143)
        with pytest.raises(api.FailedPrecondition):
            await rt.StartContainer(await rt.CreateContainer(
                pod[0], self.container_config("late", BUSYBOX, ["true"]), pod[1]))

    async def check_exec_sync(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"],
                                   envs={"GREETING": "hi there"})
        await self.until(lambda: self.exec_ok(rt, cid, ["true"]), what="exec to work")
        r = await self.call(rt.ExecSync(cid, ["echo", "hello"], 10))
        assert (r.stdout, r.exit_code) == (b"hello\n", 0)
        r = await self.call(rt.ExecSync(cid, ["sh", "-c", "exit 5"], 10))
        assert r.exit_code == 5
        r = await self.call(rt.ExecSync(cid, ["env"], 10))
        env = r.stdout.decode().splitlines()
        assert "GREETING=hi there" in env
        assert "HOSTNAME=pod" in env                           # the sandbox's hostname
        assert any(line.startswith("PATH=/") for line in env)   # the image's environment

    async def drain(self, rt: Any, session: str, stdin: bytes = b"", close_stdin: bool = False,
                    within: float = 15.0) -> tuple[bytes, bytes, int]:
        """Hand ``stdin`` to an exec and read it to its end: (stdout, stderr, exit code)."""
        out, err = bytearray(), bytearray()
        got = await rt.exec_stream(session, stdin, close_stdin, wait=0)
        while True:
            out += got.stdout
            err += got.stderr
            if got.exit_code is not None:
                return bytes(out), bytes(err), got.exit_code
            await self.settle(self.step)
            within -= self.step
            assert within > 0, f"exec still running; so far {bytes(out)!r} {bytes(err)!r}"
            got = await rt.exec_stream(session, wait=0)

    async def check_exec_streams_stdin_output_and_exit_code(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"])
        await self.until(lambda: self.exec_ok(rt, cid, ["true"]), what="exec to work")
        r = await rt.Exec(api.ExecRequest(cid, ["sh", "-c", "echo out; echo err >&2; exit 3"]))
        assert await self.drain(rt, r.url) == (b"out\n", b"err\n", 3)
        with pytest.raises(api.NotFound):          # an ended session is gone
            await rt.exec_stream(r.url, wait=0)
        r = await rt.Exec(api.ExecRequest(cid, ["sh"], stdin=True, stderr=False))
        assert await self.drain(rt, r.url, b"echo $HOSTNAME\nnope\nexit 4\n") == (b"pod\n", b"", 4)
        r = await rt.Exec(api.ExecRequest(cid, ["cat"], stdin=True))
        assert await self.drain(rt, r.url, b"line one\nno newline", close_stdin=True) == \
            (b"line one\nno newline", b"", 0)

    async def check_exec_on_a_terminal(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"])
        await self.until(lambda: self.exec_ok(rt, cid, ["true"]), what="exec to work")
        r = await rt.Exec(api.ExecRequest(cid, ["sh"], tty=True, stdin=True, stderr=False))
        await rt.exec_stream(r.url, resize=(120, 40), wait=0)
        out, err, code = await self.drain(rt, r.url, b"echo hi; nope\rexit 5\r")
        assert code == 5 and err == b""
        text = out.decode()
        assert "/ # " in text                      # the shell saw a terminal and prompted
        assert "echo hi; nope\r\n" in text        # typed input is echoed, Enter as CR NL
        assert "hi\r\n" in text and "nope: not found\r\n" in text   # stderr on the same terminal

    async def check_exec_errors_and_cancel(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"])
        await self.until(lambda: self.exec_ok(rt, cid, ["true"]), what="exec to work")
        with pytest.raises(api.InvalidArgument):
            await rt.Exec(api.ExecRequest(cid, ["sh"], tty=True, stderr=True))
        with pytest.raises(api.InvalidArgument):
            await rt.Exec(api.ExecRequest(cid, []))
        with pytest.raises(api.NotFound):
            await rt.Exec(api.ExecRequest("0" * 64, ["true"]))
        with pytest.raises(api.NotFound):
            await rt.exec_stream("no-such-session", wait=0)
        r = await rt.Exec(api.ExecRequest(cid, ["sleep", "30"]))
        await rt.exec_cancel(r.url)
        with pytest.raises(api.NotFound):
            await rt.exec_stream(r.url, wait=0)
        r = await rt.Exec(api.ExecRequest(cid, ["sleep", "30"]))
        await self.call(rt.StopContainer(cid, 0))       # the container's end ends its execs
        out, _, code = await self.drain(rt, r.url)
        assert code == 137

    async def check_read_log_from_a_cursor(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "talker",
                                   ["sh", "-c", "echo one; sleep 1; echo two; sleep 30"])

        async def texts(cursor: int) -> tuple[list[str], int]:
            chunk = await rt.read_log(cid, cursor)
            return [CRI_LINE.match(line).group(4) for line in chunk.lines], chunk.cursor

        await self.until(lambda: self._has_lines(rt, cid, 1), what="the first line")
        first, cursor = await texts(0)
        assert first == ["one"]
        assert await texts(cursor) == ([], cursor)                 # nothing new yet
        await self.until(lambda: self._has_lines(rt, cid, 2), what="the second line")
        second, after = await texts(cursor)
        assert second == ["two"] and after > cursor
        assert (await texts(0))[0] == ["one", "two"]

    async def _has_lines(self, rt: Any, cid: str, n: int) -> bool:
        return len((await rt.read_log(cid, 0)).lines) >= n

    async def check_exec_sync_timeout(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"])
        await self.until(lambda: self.exec_ok(rt, cid, ["true"]), what="exec to work")
        with pytest.raises(api.DeadlineExceeded):
            await self.call(rt.ExecSync(cid, ["sleep", "30"], 1), within=10)
        await self.running(rt, cid)

    async def check_config_env_overrides_image_env(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "env", ["env"], envs={"PATH": "/custom"})
        await self.exited(rt, cid)
        texts = [CRI_LINE.match(line).group(4) for line in await self.log_lines(rt, cid)]
        assert "PATH=/custom" in texts
        assert [t for t in texts if t.startswith("PATH=")] == ["PATH=/custom"]

    async def check_list_containers_filters(self, rt, images):
        a = await self.sandbox(rt, "pod-a")
        b = await self.sandbox(rt, "pod-b")
        c1 = await self.container(rt, images, a, "one", ["sleep", "infinity"], labels={"tier": "front"})
        c2 = await self.container(rt, images, a, "two", ["true"], start=False, labels={"tier": "back"})
        c3 = await self.container(rt, images, b, "three", ["sleep", "infinity"], labels={"tier": "front"})
        await self.settle(self.step)

        async def ids(**kw: Any) -> list[str]:
            return sorted(c.id for c in await rt.ListContainers(api.ContainerFilter(**kw)))

        assert await ids() == sorted([c1, c2, c3])
        assert await ids(pod_sandbox_id=a[0]) == sorted([c1, c2])
        assert await ids(state=api.ContainerState.CONTAINER_CREATED) == [c2]
        assert await ids(state=api.ContainerState.CONTAINER_RUNNING) == sorted([c1, c3])
        assert await ids(label_selector={"tier": "front"}) == sorted([c1, c3])
        assert await ids(id=c3) == [c3]
        assert await ids(pod_sandbox_id=b[0], label_selector={"tier": "back"}) == []

    async def check_remove_running_container(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"])
        await self.settle(self.step)
        await self.call(rt.RemoveContainer(cid))
        with pytest.raises(api.NotFound):
            await rt.ContainerStatus(cid)
        assert await rt.ListContainers() == []
        await rt.RemoveContainer(cid)                 # idempotent

    async def check_remove_sandbox_removes_containers(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        cid = await self.container(rt, images, pod, "sleeper", ["sleep", "infinity"])
        await self.settle(self.step)
        await self.call(rt.StopPodSandbox(pod[0]))
        await self.call(rt.RemovePodSandbox(pod[0]))
        with pytest.raises(api.NotFound):
            await rt.ContainerStatus(cid)
        assert await rt.ListContainers() == [] and await rt.ListPodSandbox() == []

    async def check_errors_are_typed(self, rt, images):
        ghost = "f" * 64
        for call in (rt.PodSandboxStatus(ghost), rt.StopPodSandbox(ghost), rt.ContainerStatus(ghost),
                     rt.StartContainer(ghost), rt.StopContainer(ghost, 1),
                     rt.ExecSync(ghost, ["true"], 1), rt.ReopenContainerLog(ghost),
                     rt.CreateContainer(ghost, self.container_config("c", BUSYBOX, ["true"]),
                                        self.sandbox_config("ghost"))):
            with pytest.raises(api.NotFound):
                await call
        await rt.RemoveContainer(ghost)
        await rt.RemovePodSandbox(ghost)

    async def check_port_conflict_in_a_pod(self, rt, images):
        pod = await self.sandbox(rt, "pod")
        netexec = ["/agnhost", "netexec", "--http-port=8080"]
        first = await self.container(rt, images, pod, "first", netexec, image=AGNHOST)
        await self.until(lambda: self.exec_ok(rt, first, ["wget", "-qO-", "http://localhost:8080/hostname"]),
                         what="the first server to answer")
        second = await self.container(rt, images, pod, "second", netexec, image=AGNHOST)
        st = await self.exited(rt, second)
        assert st.exit_code != 0
        await self.running(rt, first)
