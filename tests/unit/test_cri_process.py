"""Unit tests for actors.cri.process: CRI over real OS processes.

Every container here is a real Python process (~0.2 s to start), so the
tests are few and each exercises several calls.
"""
from __future__ import annotations

import asyncio
import os
import random
import re
import time
from typing import Any, Awaitable, Callable

import aiohttp
import pytest

from actors.cri import api
from actors.cri.images import ImageStore
from actors.cri.process import (
    MIN_RLIMIT_AS,
    PID_ANNOTATION,
    ProcessRuntime,
    exit_code,
)
from actors.cri.logformat import rfc3339nano
from netsim.pods import PodNetwork
from netsim.addresses import CLUSTER_DNS_IP
from netsim.dns import DNSRecords
from netsim.realsockets import loopback_address
from netsim.resolver import local_nameserver, pod_resolver
from netsim.services import SERVICE_NAME_LABEL, service_ports
from netsim.traffic import http_request_bytes

from .cri_contract import RuntimeContract

BUSYBOX = "docker.io/library/busybox:1.36"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.52"
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)")

Scenario = Callable[[ProcessRuntime, ImageStore, str], Awaitable[Any]]


def make_runtime(root: str) -> tuple[ProcessRuntime, ImageStore]:
    """A runtime with instant pulls; a random pod CIDR (hence loopback /24)
    keeps runs on one machine (other test sessions) off each other's addresses."""
    images = ImageStore(bandwidth=1e15)
    cidr = f"10.{random.randrange(1, 255)}.{random.randrange(256)}.0/24"
    return ProcessRuntime(images, root, network=PodNetwork.standalone(cidr=cidr)), images


def run(tmp_path: Any, scenario: Scenario, limit: float = 20.0) -> Any:
    """Run ``scenario`` against a fresh runtime, always closing it (no process left behind)."""
    async def main() -> Any:
        rt, images = make_runtime(str(tmp_path / "root"))
        try:
            return await asyncio.wait_for(scenario(rt, images, str(tmp_path / "logs")), limit)
        finally:
            await rt.close()
    return asyncio.run(main())


def pod(name: str, log_dir: str) -> api.PodSandboxConfig:
    return api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="default"),
        hostname=name, log_directory=os.path.join(log_dir, name), labels={"app": name})


def ctr(name: str, image: str = BUSYBOX, command: list[str] | None = None,
        args: list[str] | None = None, **kw: Any) -> api.ContainerConfig:
    return api.ContainerConfig(metadata=api.ContainerMetadata(name=name), image=api.ImageSpec(image),
                               command=command or [], args=args or [], log_path=f"{name}/0.log", **kw)


async def wait_exited(rt: ProcessRuntime, cid: str, timeout: float = 10.0) -> api.ContainerStatus:
    deadline = time.monotonic() + timeout
    while True:
        st = await rt.ContainerStatus(cid)
        if st.state == api.ContainerState.CONTAINER_EXITED:
            return st
        assert time.monotonic() < deadline, f"container still {st.state.value}"
        await asyncio.sleep(0.05)


def log_texts(path: str) -> list[tuple[str, str, str]]:
    """(stream, tag, text) of every line, each checked against the CRI format."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            m = LOG_LINE.fullmatch(line)
            assert m, f"not a CRI log line: {line!r}"
            out.append(m.groups())
    return out


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# ------------------------------------------------------------------ helpers
def test_helpers() -> None:
    assert rfc3339nano(1_700_000_000_000_000_042) == "2023-11-14T22:13:20.000000042Z"
    assert exit_code(3) == 3 and exit_code(-15) == 143 and exit_code(-9) == 137
    assert loopback_address("10.244.3.7") == "127.244.3.7"


# ------------------------------------------------------------------ containers
def test_exit_code_and_log(tmp_path) -> None:
    async def scenario(rt: ProcessRuntime, images: ImageStore, logs: str) -> None:
        cfg = pod("job", logs)
        sid = await rt.RunPodSandbox(cfg)
        with pytest.raises(api.NotFound):      # not pulled yet
            await rt.CreateContainer(sid, ctr("c"), cfg)
        await images.PullImage(api.ImageSpec(BUSYBOX))
        cid = await rt.CreateContainer(sid, ctr("c", command=["sh", "-c", "echo hi; exit 3"]), cfg)
        with pytest.raises(api.AlreadyExists):
            await rt.CreateContainer(sid, ctr("c"), cfg)
        assert (await rt.ContainerStatus(cid)).state == api.ContainerState.CONTAINER_CREATED
        await rt.StartContainer(cid)
        with pytest.raises(api.FailedPrecondition):
            await rt.StartContainer(cid)
        st = await wait_exited(rt, cid)
        assert (st.exit_code, st.reason) == (3, "Error")
        assert 0 < st.started_at <= st.finished_at
        assert st.log_path == os.path.join(logs, "job", "c", "0.log")
        assert log_texts(st.log_path) == [("stdout", "F", "hi")]
        assert int(st.annotations[PID_ANNOTATION]) > 0
        assert st.image_ref == images.pulled(BUSYBOX).id

        # an unknown binary never starts: StartError as upstream
        bad = await rt.CreateContainer(sid, ctr("bad", command=["/no/such-binary"]), cfg)
        with pytest.raises(api.ContainerStartError):
            await rt.StartContainer(bad)
        st = await rt.ContainerStatus(bad)
        assert (st.state, st.exit_code, st.reason) == (api.ContainerState.CONTAINER_EXITED, 128, "StartError")

        listed = await rt.ListContainers(api.ContainerFilter(state=api.ContainerState.CONTAINER_EXITED,
                                                              pod_sandbox_id=sid))
        assert sorted(c.id for c in listed) == sorted([cid, bad])
        await rt.RemovePodSandbox(sid)
        assert await rt.ListContainers() == [] and await rt.ListPodSandbox() == []
        assert not os.path.exists(os.path.join(rt.root_dir, "sandboxes", sid))
        await rt.RemovePodSandbox(sid)         # idempotent
    run(tmp_path, scenario)


def test_stop_with_grace_and_sandbox_stop(tmp_path) -> None:
    async def scenario(rt: ProcessRuntime, images: ImageStore, logs: str) -> None:
        await images.PullImage(api.ImageSpec(BUSYBOX))
        cfg = pod("sleeper", logs)
        sid = await rt.RunPodSandbox(cfg)
        a = await rt.CreateContainer(sid, ctr("a", command=["sleep", "infinity"]), cfg)
        b = await rt.CreateContainer(sid, ctr("b", command=["sleep", "infinity"]), cfg)
        await asyncio.gather(rt.StartContainer(a), rt.StartContainer(b))
        pids = {}
        for cid in (a, b):
            st = await rt.ContainerStatus(cid)
            assert st.state == api.ContainerState.CONTAINER_RUNNING
            pids[cid] = int(st.annotations[PID_ANNOTATION])
            assert not gone(pids[cid])

        t0 = time.monotonic()
        await rt.StopContainer(a, 1)
        assert time.monotonic() - t0 < 1.5
        st = await rt.ContainerStatus(a)
        assert (st.state, st.exit_code, st.reason) == (api.ContainerState.CONTAINER_EXITED, 143, "Error")
        assert gone(pids[a])
        await rt.StopContainer(a, 1)           # idempotent on an exited container

        # the sandbox's stop SIGKILLs what is still running and gives its address back
        await rt.StopPodSandbox(sid)
        st = await rt.ContainerStatus(b)
        assert (st.state, st.exit_code) == (api.ContainerState.CONTAINER_EXITED, 137)
        assert gone(pids[b])
        sst = await rt.PodSandboxStatus(sid)
        assert (sst.state, sst.network.ip) == (api.PodSandboxState.SANDBOX_NOTREADY, "")
        with pytest.raises(api.FailedPrecondition):
            await rt.CreateContainer(sid, ctr("c"), cfg)
        await rt.RemoveContainer(a)
        with pytest.raises(api.NotFound):
            await rt.ContainerStatus(a)
        await rt.RemoveContainer(a)            # idempotent
        with pytest.raises(api.NotFound):
            await rt.StopContainer(a, 1)
    run(tmp_path, scenario)


def test_exec_env_working_dir_and_memory_limit(tmp_path) -> None:
    async def scenario(rt: ProcessRuntime, images: ImageStore, logs: str) -> None:
        await images.PullImage(api.ImageSpec(BUSYBOX))
        cfg = pod("web", logs)
        sid = await rt.RunPodSandbox(cfg)
        ip = (await rt.PodSandboxStatus(sid)).network.ip
        assert ip.startswith("10.") and rt._sandboxes[sid].real_ip == loopback_address(ip)
        common = dict(working_dir="/srv/app", envs=[api.KeyValue("FOO", "bar")],
                      resources=api.LinuxContainerResources(memory_limit_in_bytes=2 * MIN_RLIMIT_AS))
        env_c = await rt.CreateContainer(sid, ctr("env", command=["env"], **common), cfg)
        main = await rt.CreateContainer(sid, ctr("main", command=["sleep", "infinity"], **common), cfg)
        await asyncio.gather(rt.StartContainer(env_c), rt.StartContainer(main))

        st = await wait_exited(rt, env_c)
        assert st.exit_code == 0
        env = dict(text.split("=", 1) for _, _, text in log_texts(st.log_path))
        assert env["FOO"] == "bar" and env["HOSTNAME"] == "web"
        assert env["PATH"] == dict(images.pulled(BUSYBOX).env)["PATH"]

        r = await rt.ExecSync(main, ["echo", "x"], timeout=5)
        assert (r.stdout, r.stderr, r.exit_code) == (b"x\n", b"", 0)
        r = await rt.ExecSync(main, ["sh", "-c", "hostname -i; exit 4"], timeout=5)
        assert (r.stdout, r.exit_code) == (f"{ip}\n".encode(), 4)   # the pod's address reached it
        probe = "import os, resource; print(os.getcwd()); print(resource.getrlimit(resource.RLIMIT_AS)[0])"
        r = await rt.ExecSync(main, ["python3", "-c", probe], timeout=10)
        cwd, limit = r.stdout.decode().split()
        assert cwd == os.path.join(rt.root_dir, "sandboxes", sid, "containers", main, "srv", "app")
        assert int(limit) == 2 * MIN_RLIMIT_AS

        t0 = time.monotonic()
        with pytest.raises(api.DeadlineExceeded):
            await rt.ExecSync(main, ["sleep", "30"], timeout=1)
        assert time.monotonic() - t0 < 3
        assert rt._execs == set()              # the timed-out exec was killed and reaped
        with pytest.raises(api.FailedPrecondition):
            await rt.ExecSync(env_c, ["echo", "x"], timeout=1)

        # log rotation: the old file is moved away, output goes to a new one
        st = await rt.ContainerStatus(main)
        os.rename(st.log_path, st.log_path + ".1")
        await rt.ReopenContainerLog(main)
        assert os.path.exists(st.log_path)
        with pytest.raises(api.FailedPrecondition):
            await rt.ReopenContainerLog(env_c)
    run(tmp_path, scenario)


def test_two_pods_serve_the_same_port_reached_through_the_pod_network(tmp_path) -> None:
    async def get(rt: ProcessRuntime, url: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, body = await rt.network.request("", "GET", url, timeout=1)
                return body.decode()
            except OSError:
                assert time.monotonic() < deadline, f"{url} never answered"
                await asyncio.sleep(0.1)

    async def scenario(rt: ProcessRuntime, images: ImageStore, logs: str) -> None:
        await images.PullImage(api.ImageSpec(AGNHOST))
        ips = {}
        for name in ("pod-a", "pod-b"):
            cfg = pod(name, logs)
            sid = await rt.RunPodSandbox(cfg)
            cid = await rt.CreateContainer(
                sid, ctr("netexec", image=AGNHOST, args=["netexec", "--http-port", "8080"]), cfg)
            await rt.StartContainer(cid)
            ips[name] = (await rt.PodSandboxStatus(sid)).network.ip
        assert ips["pod-a"] != ips["pod-b"]
        for name, ip in ips.items():   # the flow ends at the real socket of the pod's process
            assert await get(rt, f"http://{ip}:8080/hostname") == name
        reply = await rt.network.send("", ips["pod-a"], 8080, http_request_bytes("GET", ips["pod-a"], 8080, "/"))
        assert reply.ok and reply.payload.startswith(b"HTTP/1.1 200")
        assert "process on 127." in reply.hops[-1].what
        refused = await rt.network.send("", ips["pod-a"], 9999, b"x")
        assert refused.error == "refused"
        async with aiohttp.ClientSession() as session:   # and on its loopback address, directly
            async with session.get(f"http://{loopback_address(ips['pod-b'])}:8080/hostname") as resp:
                assert await resp.text() == "pod-b"
        running = await rt.ListContainers(api.ContainerFilter(state=api.ContainerState.CONTAINER_RUNNING))
        assert len(running) == 2
    run(tmp_path, scenario)


def test_real_processes_reach_a_service_by_name_through_the_gateway(tmp_path) -> None:
    """A real ``wget`` in one pod asks for ``http://web/``: the node's egress
    gateway takes it into the pod network, which resolves the name with the
    pod's resolv.conf, applies the Service rule and ends at the real socket
    of the other pod's process."""
    async def scenario(rt: ProcessRuntime, images: ImageStore, logs: str) -> None:
        await images.PullImage(api.ImageSpec(AGNHOST))
        await images.PullImage(api.ImageSpec(BUSYBOX))
        records = DNSRecords()
        rt.network.host.resolve = pod_resolver({CLUSTER_DNS_IP: local_nameserver(records)}.get)
        web = pod("web", logs)
        web_sid = await rt.RunPodSandbox(web)
        await rt.StartContainer(await rt.CreateContainer(
            web_sid, ctr("netexec", image=AGNHOST, args=["netexec", "--http-port", "8080"]), web))
        web_ip = (await rt.PodSandboxStatus(web_sid)).network.ip
        client = pod("client", logs)
        client.dns_config = api.DNSConfig([CLUSTER_DNS_IP], ["default.svc.cluster.local", "svc.cluster.local",
                                                             "cluster.local"], ["ndots:5"])
        client_sid = await rt.RunPodSandbox(client)
        cid = await rt.CreateContainer(client_sid, ctr("main", command=["sleep", "infinity"]), client)
        await rt.StartContainer(cid)
        svc = {"metadata": {"name": "web", "namespace": "default"},
               "spec": {"type": "ClusterIP", "clusterIP": "10.96.7.7", "clusterIPs": ["10.96.7.7"],
                        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
        slc = {"metadata": {"name": "web-x", "namespace": "default", "labels": {SERVICE_NAME_LABEL: "web"}},
               "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
               "endpoints": [{"addresses": [web_ip], "conditions": {"ready": True}}]}
        records.set_service(svc)
        records.set_endpoint_slice(slc)
        rt.network.host.program_service("default/web", service_ports(svc, [slc]))
        deadline = time.monotonic() + 15
        while True:
            r = await rt.ExecSync(cid, ["wget", "-qO-", "http://web/hostname"], timeout=10)
            if r.exit_code == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert (r.exit_code, r.stdout) == (0, b"web"), r.stderr
        r = await rt.ExecSync(cid, ["wget", "-qO-", "http://web.default.svc.cluster.local/clientip"], timeout=10)
        assert r.stdout.decode().split(":")[0] == loopback_address((await rt.PodSandboxStatus(client_sid))
                                                                    .network.ip)
        r = await rt.ExecSync(cid, ["nslookup", "web"], timeout=10)
        assert r.exit_code == 0 and "Name:\tweb.default.svc.cluster.local\nAddress: 10.96.7.7" in r.stdout.decode()
        r = await rt.ExecSync(cid, ["wget", "-qO-", "http://nowhere/"], timeout=10)
        assert r.exit_code == 1 and b"bad address 'nowhere'" in r.stderr
        r = await rt.ExecSync(cid, ["wget", "-qO-", "http://10.96.7.8/"], timeout=10)
        assert r.exit_code == 1 and b"No route to host" in r.stderr
    run(tmp_path, scenario, limit=60)


# ------------------------------------------------------------------ contract
class TestProcessContract(RuntimeContract):
    """The runtime-independent CRI contract, on real processes and real time."""

    runtime_name = "raykube-process"
    time_limit = 30.0

    async def runtime(self) -> tuple[ProcessRuntime, ImageStore]:
        return make_runtime(str(self.tmp_path / "root"))

    async def settle(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


HELPER = """
import asyncio, sys
from actors.cri import api
from actors.cri.images import ImageStore
from actors.cri.process import ProcessRuntime

async def main():
    images = ImageStore(bandwidth=10 ** 12)
    await images.PullImage(api.ImageSpec("busybox:1.36"))
    rt = ProcessRuntime(images, sys.argv[1])
    sb = await rt.RunPodSandbox(api.PodSandboxConfig(api.PodSandboxMetadata("p", "u", "ns")))
    cid = await rt.CreateContainer(sb, api.ContainerConfig(api.ContainerMetadata("c"), api.ImageSpec("busybox:1.36"),
                                                           command=["sleep", "infinity"]), None)
    await rt.StartContainer(cid)
    st = await rt.ContainerStatus(cid)
    print(st.annotations["raykube.io/pid"], flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_containers_die_with_a_runtime_that_crashes(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import time

    helper = subprocess.Popen([sys.executable, "-c", HELPER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        pid = int(helper.stdout.readline().strip())
        os.kill(pid, 0)  # the container runs
        helper.send_signal(signal.SIGKILL)  # the runtime crashes: no close(), no StopContainer
        helper.wait(timeout=10)
        deadline = time.monotonic() + 10
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "the container outlived its runtime"
            time.sleep(0.05)
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait(timeout=10)
