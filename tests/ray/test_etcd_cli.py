"""`raykube etcd ...` against the session's Ray cluster, as a person uses it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ray


def _run(address: str, data: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, RAYKUBE_DATA=data, RAY_AUTH_MODE="disabled")
    return subprocess.run([sys.executable, "-m", "actors.cli", "etcd", "--address", address,
                           "--name", "cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_up_put_get_watch_kill_leader_down(ray_cluster, data_root):
    addr = ray_cluster.address
    r = _run(addr, data_root, "up", "--members", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("FOLLOWER") == 2 and r.stdout.count("LEADER") == 1
    try:
        assert "OK (revision 2)" in _run(addr, data_root, "put", "greeting", "hello").stdout
        out = _run(addr, data_root, "get", "greet", "--prefix").stdout
        assert "greeting = hello" in out
        w = _run(addr, data_root, "watch", "greeting", "--rev", "1", "--count", "1")
        assert '"type": "PUT"' in w.stdout and '"revision": 2' in w.stdout
        k = _run(addr, data_root, "kill-leader")
        assert k.returncode == 0 and "leader is now" in k.stdout, k.stderr
        assert "greeting = hello" in _run(addr, data_root, "get", "greeting").stdout
        assert "deleted 1" in _run(addr, data_root, "del", "greeting").stdout
        assert "no such key" in _run(addr, data_root, "get", "greeting").stdout
    finally:
        d = _run(addr, data_root, "down")
    assert d.returncode == 0
    s = _run(addr, data_root, "status")
    assert "DOWN" not in s.stdout and "LEADER" not in s.stdout
    gone = _run(addr, data_root, "get", "x", timeout=60)
    assert gone.returncode == 1 and "raykube:" in gone.stderr


def test_bad_arguments_get_one_line_errors():
    r = subprocess.run([sys.executable, "-m", "actors.cli", "up", "--authorization-mode", "Yolo"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = subprocess.run([sys.executable, "-m", "actors.cli", "etcd", "up", "--members", "4"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = subprocess.run([sys.executable, "-m", "actors.cli", "etcd", "frobnicate"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_raykube_up_status_down(ray_cluster, data_root):
    env = dict(os.environ, RAYKUBE_DATA=data_root, RAY_AUTH_MODE="disabled")

    def rk(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "actors.cli", *args, "--address", ray_cluster.address],
                              capture_output=True, text=True, timeout=180, env=env)
    kubeconfig = os.path.join(data_root, "kubeconfig")
    up = rk("up", "--etcd", "3", "--apiservers", "2", "--port", "0", "--kubeconfig", kubeconfig)
    try:
        assert up.returncode == 0, up.stderr
        assert f"kubeconfig written to {kubeconfig}" in up.stdout
        printed = rk("kubeconfig", "--apiserver", "2")
        assert printed.returncode == 0 and "current-context: raykube" in printed.stdout
        assert "https://" in printed.stdout and "token:" in printed.stdout
        st = rk("status")
        lines = [ln for ln in st.stdout.splitlines()[1:] if ln.strip()]
        names = {ln.split()[0] for ln in lines}
        assert {"apiserver-1", "apiserver-2", "etcd-raykube-1", "etcd-raykube-2", "etcd-raykube-3"} <= names
        assert all(ln.split()[1] == "yes" for ln in lines), st.stdout
    finally:
        dn = rk("down")
    assert dn.returncode == 0 and "removed" in dn.stdout
    after = rk("status")
    assert "apiserver-1" not in after.stdout and "etcd-raykube" not in after.stdout
