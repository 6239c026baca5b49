"""Pods that really run, seen through the real kubectl: a Deployment of busybox
processes rolls out, `kubectl logs` (with -f, --tail, --previous) shows what
they print, `kubectl exec` runs commands in them (exit codes, stdin), `get -o
wide` shows their IPs and nodes, and `kubectl delete` ends their processes."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest

from tests.e2e.plane import KUBECTL

pytestmark = [pytest.mark.e2e, pytest.mark.ray]

TICKER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: ticker, namespace: %(ns)s}
spec:
  replicas: 2
  selector: {matchLabels: {app: ticker}}
  template:
    metadata: {labels: {app: ticker}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: tick
        image: busybox:1.36
        command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"]
"""

CRASHER = """
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: %(ns)s}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "echo attempt at $(date +%%s); exit 1"]
"""


def pods_of(cluster, ns: str, selector: str) -> list[dict]:
    return json.loads(cluster.ok("get", "pods", "-n", ns, "-l", selector, "-o", "json"))["items"]


def processes_with_ip(ip: str) -> list[int]:
    """PIDs of this machine's processes running in the pod with address ``ip``."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if f"RAYKUBE_POD_IP={ip}".encode() in env:
            found.append(int(pid))
    return found


def wait_for(pred, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout}s: {what}")


def interactive_shell(cluster, ns: str, pod: str, typed: list[bytes]) -> int:
    """``kubectl exec -it POD -- sh`` on a terminal of our own: types each line once
    the shell has prompted for it (``/ # ``); returns kubectl's exit code."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", cluster.kubeconfig, "exec", "-it", "-n", ns, pod, "--", "sh"],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        for line in typed:
            deadline = time.monotonic() + 30
            while seen.count(b"/ # ") <= typed.index(line):
                assert time.monotonic() < deadline, f"no prompt; the terminal shows {seen!r}"
                if select.select([master], [], [], 0.5)[0]:
                    seen += os.read(master, 4096)
            os.write(master, line)
        code = proc.wait(30)
        while select.select([master], [], [], 0.2)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    assert b"hi-2" in seen, seen
    return code


def test_a_deployment_of_real_processes(cluster):
    ns = "ticks"
    cluster.ok("create", "namespace", ns)
    cluster.ok("apply", "-f", "-", input=TICKER % {"ns": ns})
    out = cluster.ok("rollout", "status", "-n", ns, "deployment/ticker", "--timeout=120s", timeout=150)
    assert 'deployment "ticker" successfully rolled out' in out

    wide = cluster.ok("get", "pods", "-n", ns, "-o", "wide").splitlines()
    assert wide[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    rows = [line.split() for line in wide[1:]]
    assert len(rows) == 2 and all(r[1] == "1/1" and r[2] == "Running" for r in rows)
    assert all(r[5].startswith("10.244.") for r in rows) and len({r[5] for r in rows}) == 2
    assert {r[6] for r in rows} <= {"node-1", "node-2"}
    pod = rows[0][0]

    # logs: what the process printed, the last line only, and followed as it goes
    wait_for(lambda: "tick 2" in cluster.ok("logs", "-n", ns, pod), "three ticks in the log")
    assert cluster.ok("logs", "-n", ns, pod).startswith("tick 0\ntick 1\ntick 2\n")
    assert len(cluster.ok("logs", "-n", ns, pod, "--tail=1").splitlines()) == 1
    assert cluster.ok("logs", "-n", ns, "deployment/ticker", "--tail=1").startswith("tick ")
    follow = subprocess.Popen([KUBECTL, "--kubeconfig", cluster.kubeconfig, "logs", "-f", "--tail=1", "-n", ns, pod],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [follow.stdout.readline() for _ in range(3)]   # the last line, then two new ones as written
    finally:
        follow.kill()
        follow.wait(10)
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + 3)), lines

    # exec: output and exit code, stdin, a file the container can see
    r = cluster.kubectl("exec", "-n", ns, pod, "--", "sh", "-c", "echo hi; exit 3")
    assert (r.returncode, r.stdout) == (3, "hi\n"), r.stderr
    r = cluster.kubectl("exec", "-i", "-n", ns, pod, "--", "sh", input="echo $((40 + 2))\nexit 0\n")
    assert (r.returncode, r.stdout) == (0, "42\n"), r.stderr
    assert cluster.ok("exec", "-n", ns, pod, "--", "hostname").strip() == pod
    r = cluster.kubectl("exec", "-n", ns, pod, "-c", "nope", "--", "true")
    assert r.returncode == 1 and "container nope is not valid for pod" in r.stderr, r.stderr
    assert interactive_shell(cluster, ns, pod, [b"echo hi-$((1 + 1))\r", b"exit 5\r"]) == 5

    # delete: the pods' processes end
    ips = [row[5] for row in rows]
    assert all(processes_with_ip(ip) for ip in ips)
    cluster.ok("delete", "namespace", ns, "--timeout=90s", timeout=120)
    wait_for(lambda: not any(processes_with_ip(ip) for ip in ips), "the pods' processes gone", timeout=30)


def test_logs_previous_after_a_crash(cluster):
    ns = "crash"
    cluster.ok("create", "namespace", ns)
    cluster.ok("apply", "-f", "-", input=CRASHER % {"ns": ns})

    def restarted() -> bool:
        st = json.loads(cluster.ok("get", "pod", "crasher", "-n", ns, "-o", "json")).get("status") or {}
        return any(c.get("restartCount", 0) >= 1 for c in st.get("containerStatuses") or ())
    wait_for(restarted, "a restart", timeout=90)
    previous = cluster.ok("logs", "-n", ns, "crasher", "--previous")
    assert previous.startswith("attempt at ") and len(previous.splitlines()) == 1
    state = json.loads(cluster.ok("get", "pod", "crasher", "-n", ns, "-o", "json"))["status"]["containerStatuses"][0]
    assert state["lastState"]["terminated"]["exitCode"] == 1
    cluster.ok("delete", "namespace", ns, "--timeout=90s", timeout=120)


def test_the_python_clients_exec_and_follow(cluster):
    """The official client's ``stream`` (v4.channel.k8s.io) and a followed log."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    ns = "pyexec"
    cluster.ok("create", "namespace", ns)
    cluster.ok("run", "talker", "-n", ns, "--image=busybox:1.36", "--",
               "sh", "-c", "for i in 1 2 3; do echo said $i; sleep 0.5; done; sleep 3600")
    cluster.ok("wait", "-n", ns, "--for=condition=Ready", "pod/talker", "--timeout=90s", timeout=120)
    api = config.new_client_from_config(config_file=cluster.kubeconfig)
    try:
        core = client.CoreV1Api(api)
        resp = stream(core.connect_get_namespaced_pod_exec, "talker", ns, command=["sh"], stdin=True,
                      stdout=True, stderr=True, tty=False, _preload_content=False)
        resp.write_stdin("echo out; echo err >&2; exit 4\n")
        resp.run_forever(timeout=20)
        assert not resp.is_open(), "the exec did not end"
        assert resp.read_stdout(timeout=1) == "out\n" and resp.read_stderr(timeout=1) == "err\n"
        assert resp.returncode == 4
        resp.close()
        logs = core.read_namespaced_pod_log("talker", ns, follow=True, _preload_content=False)
        lines = []
        for raw in logs.stream():
            lines += raw.decode().splitlines()
            if len(lines) >= 3:
                break
        logs.release_conn()
        assert lines[:3] == ["said 1", "said 2", "said 3"]
    finally:
        api.close()
        cluster.ok("delete", "namespace", ns, "--timeout=90s", timeout=120)
