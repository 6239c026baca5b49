"""The sim runtime: the CRI contract, plus what only a fake clock can show
exactly (a `sleep 30` ends at +30 s, a stop's grace period is honoured to
the second), scale (2,000 containers) and memory-only logs."""
from __future__ import annotations

import asyncio
import os
import random
import time
import tracemalloc
from typing import Any, Awaitable, Callable

import pytest

from actors.cri import api
from actors.cri.images import ImageStore
from actors.cri.programs.base import program
from actors.cri.logformat import MAX_LOG_LINE, cri_log_lines, rfc3339nano
from actors.cri.sim import EXIT_SIGKILL, SimRuntime
from netsim.cni import CNIError
from netsim.host import Fabric, Host
from netsim.pods import PodNetwork

try:
    from .cri_contract import AGNHOST, BUSYBOX, CRI_LINE, RuntimeContract
    from .virtual_time import VirtualTime, run
except ImportError:  # run as a top-level module
    from cri_contract import AGNHOST, BUSYBOX, CRI_LINE, RuntimeContract
    from virtual_time import VirtualTime, run

T0 = 1_700_000_000.0        # 2023-11-14T22:13:20Z
PAUSE = "registry.k8s.io/pause:3.10"


@program("raykube-test-stubborn")
async def _stubborn(ctx: Any, argv: list[str]) -> int:
    """A slow shutdown: survives the first SIGTERM, dies to the next signal."""
    try:
        await ctx.sleep(10 ** 9)
    except asyncio.CancelledError:
        ctx.stdout("ignoring SIGTERM\n")
    await ctx.sleep(10 ** 9)
    return 0


class TestSimContract(RuntimeContract):
    runtime_name = "raykube-sim"
    time_limit = 20.0
    step = 0.1

    async def runtime(self):
        self.vt = VirtualTime(start=T0)
        images = ImageStore(clock=self.vt.clock, sleep=self.vt.sleep)
        rt = SimRuntime(images, clock=self.vt.clock, sleep=self.vt.sleep,
                        log_root=str(self.tmp_path / "logs"))
        return rt, images

    async def settle(self, seconds: float) -> None:
        await self.vt.advance(seconds)


# ---------------------------------------------------------------- harness
class Sim:
    """A sim runtime on a fake clock, with shortcuts for the tests below."""

    def __init__(self, tmp_path: Any, **kw: Any) -> None:
        self.tmp_path = tmp_path
        self.vt = VirtualTime(start=T0)
        self.images = ImageStore(clock=self.vt.clock, sleep=self.vt.sleep)
        self.rt = SimRuntime(self.images, clock=self.vt.clock, sleep=self.vt.sleep, **kw)

    async def pull(self, image: str) -> str:
        task = asyncio.ensure_future(self.images.PullImage(api.ImageSpec(image)))
        await self.vt.advance(0)                    # a present image costs no time
        for _ in range(1000):
            if task.done():
                break
            await self.vt.advance(0.05)
        return task.result()

    def at(self, seconds: float) -> None:
        """Jump the clock to T0 + seconds (with nothing due in between)."""
        self.vt.clock.set(T0 + seconds)

    async def sandbox(self, name: str = "pod", log_directory: str | None = None,
                      hostname: str | None = None) -> tuple[str, api.PodSandboxConfig]:
        config = api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="ns"),
            hostname=name if hostname is None else hostname,
            log_directory=str(self.tmp_path / "pods" / name) if log_directory is None else log_directory)
        return await self.rt.RunPodSandbox(config), config

    async def container(self, pod: tuple[str, api.PodSandboxConfig], command: list[str] | None,
                        image: str = BUSYBOX, name: str = "c", attempt: int = 0,
                        start: bool = True) -> str:
        await self.pull(image)
        config = api.ContainerConfig(metadata=api.ContainerMetadata(name, attempt),
                                     image=api.ImageSpec(image), command=list(command or []),
                                     log_path=f"{name}/{attempt}.log")
        cid = await self.rt.CreateContainer(pod[0], config, pod[1])
        if start:
            await self.rt.StartContainer(cid)
            await self.vt.advance(0)
        return cid

    async def status(self, cid: str) -> api.ContainerStatus:
        return await self.rt.ContainerStatus(cid)


def simulate(tmp_path: Any, body: Callable[[Sim], Awaitable[None]], limit: float = 10.0, **kw: Any) -> None:
    async def main() -> None:
        sim = Sim(tmp_path, **kw)
        try:
            await body(sim)
        finally:
            await sim.rt.close()
    run(main(), limit)


def texts(lines: list[str]) -> list[tuple[str, str, str]]:
    """(stream, tag, text) of CRI log lines."""
    out = []
    for line in lines:
        m = CRI_LINE.match(line)
        assert m, line
        out.append((m.group(2), m.group(3), m.group(4)))
    return out


# ------------------------------------------------------------ log format
def test_cri_log_lines_split_full_and_partial():
    assert rfc3339nano(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20.000000000Z"
    assert cri_log_lines("T", "stdout", "a\nb") == ["T stdout F a", "T stdout P b"]
    assert cri_log_lines("T", "stderr", "a\n") == ["T stderr F a"]
    assert cri_log_lines("T", "stdout", "\n") == ["T stdout F "]
    long = cri_log_lines("T", "stdout", "x" * (2 * MAX_LOG_LINE + 7) + "\n")
    assert [line[:11] for line in long] == ["T stdout P ", "T stdout P ", "T stdout F "]
    assert [len(line) - 11 for line in long] == [MAX_LOG_LINE, MAX_LOG_LINE, 7]


# ------------------------------------------------------------- timings
def test_sleep_30_exits_exactly_at_plus_30s(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        await sim.pull(BUSYBOX)
        sim.at(100)
        cid = await sim.container(pod, ["sleep", "30"])
        st = await sim.status(cid)
        assert st.state == api.ContainerState.CONTAINER_RUNNING
        assert st.started_at == int((T0 + 100) * 1e9)
        await sim.vt.advance(29.999)
        assert (await sim.status(cid)).state == api.ContainerState.CONTAINER_RUNNING
        await sim.vt.advance(1)
        st = await sim.status(cid)
        assert st.state == api.ContainerState.CONTAINER_EXITED
        assert (st.exit_code, st.reason) == (0, "Completed")
        assert st.finished_at - st.started_at == 30_000_000_000
    simulate(tmp_path, body)


def test_stop_honours_grace_then_kills(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        cid = await sim.container(pod, ["raykube-test-stubborn"])
        sim.at(50)
        stop = asyncio.ensure_future(sim.rt.StopContainer(cid, 5))
        await sim.vt.advance(4.9)
        assert not stop.done()
        assert (await sim.status(cid)).state == api.ContainerState.CONTAINER_RUNNING
        await sim.vt.advance(0.2)
        assert stop.done() and stop.exception() is None
        st = await sim.status(cid)
        assert (st.state, st.exit_code, st.reason) == (api.ContainerState.CONTAINER_EXITED, EXIT_SIGKILL, "Error")
        assert st.finished_at == int((T0 + 55) * 1e9)
        assert texts((await sim.rt.read_log(cid)).lines) == [("stdout", "F", "ignoring SIGTERM")]
    simulate(tmp_path, body)


def test_stop_timeout_zero_kills_at_once(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        cid = await sim.container(pod, ["raykube-test-stubborn"])
        await sim.rt.StopContainer(cid, 0)        # no time passes
        st = await sim.status(cid)
        assert (st.state, st.exit_code) == (api.ContainerState.CONTAINER_EXITED, EXIT_SIGKILL)
        assert (await sim.rt.read_log(cid)).lines == []
    simulate(tmp_path, body)


def test_unhandled_sigterm_is_143_and_graceful_pause_is_0(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        sleeper = await sim.container(pod, ["sleep", "infinity"], name="sleeper")
        pause = await sim.container(pod, None, image=PAUSE, name="pause")
        assert (await sim.status(pause)).state == api.ContainerState.CONTAINER_RUNNING
        before = sim.vt.clock()
        await sim.rt.StopContainer(sleeper, 30)   # returns without time passing
        await sim.rt.StopContainer(pause, 30)
        assert sim.vt.clock() == before
        assert (await sim.status(sleeper)).exit_code == 143
        st = await sim.status(pause)
        assert (st.exit_code, st.reason) == (0, "Completed")
    simulate(tmp_path, body)


def test_stop_sandbox_kills_without_grace(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        cid = await sim.container(pod, ["raykube-test-stubborn"])
        before = sim.vt.clock()
        await sim.rt.StopPodSandbox(pod[0])
        assert sim.vt.clock() == before
        st = await sim.status(cid)
        assert (st.state, st.exit_code) == (api.ContainerState.CONTAINER_EXITED, EXIT_SIGKILL)
    simulate(tmp_path, body)


def test_exec_deadline_in_fake_time(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        cid = await sim.container(pod, ["sleep", "infinity"])
        ex = asyncio.ensure_future(sim.rt.ExecSync(cid, ["sleep", "30"], 10))
        await sim.vt.advance(9.9)
        assert not ex.done()
        await sim.vt.advance(0.2)
        assert isinstance(ex.exception(), api.DeadlineExceeded)
        ok = asyncio.ensure_future(sim.rt.ExecSync(cid, ["sleep", "3"], 10))
        await sim.vt.advance(3)
        assert ok.result() == api.ExecSyncResponse(b"", b"", 0)
        orphan = asyncio.ensure_future(sim.rt.ExecSync(cid, ["sleep", "100"], 0))
        await sim.vt.advance(1)
        await sim.rt.StopContainer(cid, 0)          # the exec dies with its container
        await sim.vt.advance(0)
        assert orphan.result().exit_code == EXIT_SIGKILL
    simulate(tmp_path, body)


def test_memory_limit_oom_kills(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        await sim.pull(AGNHOST)
        ids = []
        for name, nbytes in (("small", 10_000_000), ("big", 60_000_000)):
            config = api.ContainerConfig(
                api.ContainerMetadata(name), api.ImageSpec(AGNHOST),
                args=["consume-memory", f"--bytes={nbytes}"],
                resources=api.LinuxContainerResources(memory_limit_in_bytes=50_000_000))
            ids.append(await sim.rt.CreateContainer(pod[0], config, pod[1]))
            await sim.rt.StartContainer(ids[-1])
        await sim.vt.advance(1)
        small, big = [await sim.status(cid) for cid in ids]
        assert small.state == api.ContainerState.CONTAINER_RUNNING
        assert (big.state, big.exit_code, big.reason) == (api.ContainerState.CONTAINER_EXITED, 137, "OOMKilled")
    simulate(tmp_path, body)


# -------------------------------------------------------------------- logs
def test_memory_only_logs(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        await sim.pull(BUSYBOX)
        sim.at(10)
        cid = await sim.container(pod, ["sh", "-c", "echo -n part; echo whole"], name="talk")
        st = await sim.status(cid)
        assert st.exit_code == 0
        stamp = "2023-11-14T22:13:30.000000000Z"
        assert (await sim.rt.read_log(cid)).lines == [f"{stamp} stdout P part", f"{stamp} stdout F whole"]
        assert st.log_path == os.path.join(pod[1].log_directory, "talk/0.log")
        err = await sim.container(pod, ["wget", "-qO-", "http://localhost:1/"], name="wget")
        st = await sim.status(err)
        assert st.exit_code == 1
        lines = texts((await sim.rt.read_log(err)).lines)
        assert lines and all(stream == "stderr" for stream, _, _ in lines)
        assert not (tmp_path / "pods").exists()   # nothing on disk
    simulate(tmp_path, body, log_root=None)


def test_memory_logs_are_bounded(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        cid = await sim.container(pod, ["sh", "-c", "i=0; while true; do echo tick; sleep 1; done"])
        await sim.vt.advance(20)
        log = texts((await sim.rt.read_log(cid)).lines)
        assert log == [("stdout", "F", "tick")] * 5
    simulate(tmp_path, body, log_root=None, log_lines=5)


def test_disk_logs_are_rerooted_under_log_root(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox(log_directory="/var/log/pods/ns_pod_uid")
        cid = await sim.container(pod, ["echo", "on disk"], name="app")
        path = tmp_path / "root" / "var/log/pods/ns_pod_uid/app/0.log"
        st = await sim.status(cid)
        assert st.log_path == str(path)
        assert path.read_text().splitlines() == (await sim.rt.read_log(cid)).lines
        assert texts((await sim.rt.read_log(cid)).lines) == [("stdout", "F", "on disk")]
    simulate(tmp_path, body, log_root=str(tmp_path / "root"))


def test_reopen_log_keeps_writing_after_rotation(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        cid = await sim.container(pod, ["sh", "-c", "while true; do echo tick; sleep 1; done"])
        path = (await sim.status(cid)).log_path
        os.rename(path, path + ".1")
        await sim.rt.ReopenContainerLog(cid)
        assert open(path).read() == ""
        await sim.vt.advance(1)
        assert texts(open(path).read().splitlines()) == [("stdout", "F", "tick")]
        await sim.rt.StopContainer(cid, 0)
        with pytest.raises(api.FailedPrecondition):
            await sim.rt.ReopenContainerLog(cid)
    simulate(tmp_path, body, log_root=str(tmp_path / "root"))


# ----------------------------------------------------------------- network
def test_port_conflict_exits_1_with_the_error_logged(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        netexec = ["/agnhost", "netexec", "--http-port=8080"]
        first = await sim.container(pod, netexec, image=AGNHOST, name="first")
        second = await sim.container(pod, netexec, image=AGNHOST, name="second")
        st = await sim.status(second)
        assert (st.state, st.exit_code, st.reason) == (api.ContainerState.CONTAINER_EXITED, 1, "Error")
        log = " ".join(text for _, _, text in texts((await sim.rt.read_log(second)).lines))
        assert "address already in use" in log
        assert (await sim.status(first)).state == api.ContainerState.CONTAINER_RUNNING
    simulate(tmp_path, body)


def test_pods_reach_each_other_by_ip(tmp_path):
    async def body(sim: Sim) -> None:
        server = await sim.sandbox("server", hostname="web-0")
        client = await sim.sandbox("client")
        await sim.container(server, ["/agnhost", "netexec", "--http-port=8080"], image=AGNHOST)
        cid = await sim.container(client, ["sleep", "infinity"])
        ip = (await sim.rt.PodSandboxStatus(server[0])).network.ip
        r = await sim.rt.ExecSync(cid, ["wget", "-qO-", f"http://{ip}:8080/hostname"], 5)
        assert (r.exit_code, r.stdout) == (0, b"web-0")
        await sim.rt.StopPodSandbox(server[0])     # the server is gone with its pod
        r = await sim.rt.ExecSync(cid, ["wget", "-qO-", f"http://{ip}:8080/hostname"], 5)
        assert r.exit_code == 1
    simulate(tmp_path, body)


# ------------------------------------------------------------ addresses
def test_sandbox_is_wired_into_the_pod_network_and_out_once(tmp_path):
    net = PodNetwork.standalone(cidr="10.244.3.0/24")

    async def body(sim: Sim) -> None:
        sid, _ = await sim.sandbox()
        ip = (await sim.rt.PodSandboxStatus(sid)).network.ip
        assert ip == "10.244.3.2"
        ns = net.namespace(ip)
        assert ns is not None and ns.pod == "ns/pod"
        net.check(sid)                                          # CNI CHECK: as ADD left it
        assert net.plugin.ipam.allocations() == {ip: sid}
        await sim.rt.StopPodSandbox(sid)
        await sim.rt.StopPodSandbox(sid)                        # DEL twice is no error
        await sim.rt.RemovePodSandbox(sid)
        assert net.namespace(ip) is None and net.plugin.ipam.allocations() == {}
        with pytest.raises(CNIError):
            net.check(sid)
        with pytest.raises(api.NotFound):
            await sim.rt.PodSandboxStatus(sid)
    simulate(tmp_path, body, network=net)


def test_network_not_ready_fails_the_sandbox_typed(tmp_path):
    host = Host("h", Fabric())
    net = PodNetwork(host, "node-a")                           # no podCIDR yet

    async def body(sim: Sim) -> None:
        with pytest.raises(api.CRIError, match="network is not ready"):
            await sim.sandbox()
        assert await sim.rt.ListPodSandbox() == []
        assert host.nodes["node-a"].namespaces == {}          # nothing left behind
    simulate(tmp_path, body, network=net)


def test_address_exhaustion_and_reuse(tmp_path):
    async def body(sim: Sim) -> None:
        ids = [(await sim.sandbox(f"p{i}"))[0] for i in range(253)]
        ips = {(await sim.rt.PodSandboxStatus(i)).network.ip for i in ids}
        assert len(ips) == 253 and "10.244.0.1" not in ips and "10.244.0.255" not in ips
        with pytest.raises(api.CRIError, match="no IP addresses available in range set: 10.244.0.2-10.244.0.254"):
            await sim.sandbox("full")
        await sim.rt.StopPodSandbox(ids[0])
        sid, _ = await sim.sandbox("fits")
        assert (await sim.rt.PodSandboxStatus(sid)).network.ip == "10.244.0.2"
    simulate(tmp_path, body)


# ---------------------------------------------------------------- errors
def test_lifecycle_preconditions(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        cid = await sim.container(pod, ["true"])
        assert (await sim.status(cid)).state == api.ContainerState.CONTAINER_EXITED
        with pytest.raises(api.FailedPrecondition):
            await sim.rt.StartContainer(cid)           # not CREATED any more
        with pytest.raises(api.FailedPrecondition):
            await sim.rt.ExecSync(cid, ["true"], 1)     # not running
        with pytest.raises(api.AlreadyExists):
            await sim.container(pod, ["true"])          # name "c", attempt 0 is taken
        again = await sim.container(pod, ["true"], attempt=1)
        await sim.rt.RemoveContainer(cid)
        assert await sim.container(pod, ["true"], attempt=0) not in (cid, again)
        with pytest.raises(api.InvalidArgument):
            await sim.rt.ExecSync(again, [], 1)
    simulate(tmp_path, body)


def test_image_in_use_until_container_removed(tmp_path):
    async def body(sim: Sim) -> None:
        pod = await sim.sandbox()
        cid = await sim.container(pod, ["true"])
        with pytest.raises(api.FailedPrecondition):
            await sim.images.RemoveImage(api.ImageSpec(BUSYBOX))
        await sim.rt.RemoveContainer(cid)
        await sim.images.RemoveImage(api.ImageSpec(BUSYBOX))
        with pytest.raises(api.NotFound):                # no longer pulled
            await sim.rt.CreateContainer(
                pod[0], api.ContainerConfig(api.ContainerMetadata("d"), api.ImageSpec(BUSYBOX)), pod[1])
    simulate(tmp_path, body)


def test_seeded_ids_are_deterministic(tmp_path):
    async def ids(seed: int) -> list[str]:
        images = ImageStore()
        rt = SimRuntime(images, rng=random.Random(seed))
        config = api.PodSandboxConfig(api.PodSandboxMetadata("p", "u", "ns"))
        return [await rt.RunPodSandbox(config) for _ in range(3)]

    assert run(ids(7)) == run(ids(7))
    assert run(ids(7)) != run(ids(8))


# ------------------------------------------------------------------ scale
def test_two_thousand_containers(tmp_path):
    async def body(sim: Sim) -> None:
        await sim.pull(BUSYBOX)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            began = time.perf_counter()
            pods = [await sim.sandbox(f"pod-{i}") for i in range(20)]
            for pod in pods:
                for j in range(100):
                    cid = await sim.rt.CreateContainer(pod[0], api.ContainerConfig(
                        api.ContainerMetadata(f"c{j}"), api.ImageSpec(BUSYBOX),
                        command=["sleep", "infinity"], log_path=f"c{j}/0.log"), pod[1])
                    await sim.rt.StartContainer(cid)
            await sim.vt.advance(1)
            elapsed = time.perf_counter() - began
            per_container = (tracemalloc.get_traced_memory()[0] - base) / 2000
        finally:
            tracemalloc.stop()
        running = await sim.rt.ListContainers(api.ContainerFilter(state=api.ContainerState.CONTAINER_RUNNING))
        assert len(running) == 2000
        assert elapsed < 15, elapsed
        assert per_container < 12_000, per_container
        for pod in pods:
            await sim.rt.StopPodSandbox(pod[0])
        exited = await sim.rt.ListContainers(api.ContainerFilter(state=api.ContainerState.CONTAINER_EXITED))
        assert len(exited) == 2000 and {c.state for c in await sim.rt.ListContainers()} == {
            api.ContainerState.CONTAINER_EXITED}
        assert {(await sim.status(c.id)).exit_code for c in exited} == {EXIT_SIGKILL}
    simulate(tmp_path, body, limit=60, log_root=None)
