"""A control plane brought up the way a person does (`raykube up`), and a
kubectl that talks to it with a private cache: shared by the e2e packages."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@dataclass
class ControlPlane:
    kubeconfig: str
    address: str
    tmp: str

    def kubectl(self, *args: str, input: str | None = None, env: dict | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir",
                               os.path.join(self.tmp, "kubecache"), *args],
                              capture_output=True, text=True, input=input, timeout=timeout,
                              env=dict(os.environ, **(env or {})))

    def ok(self, *args: str, **kw) -> str:
        """kubectl that must succeed; its stdout."""
        r = self.kubectl(*args, **kw)
        assert r.returncode == 0, f"kubectl {' '.join(args)} failed ({r.returncode}): {r.stderr}"
        return r.stdout

    def raykube(self, *args: str) -> subprocess.CompletedProcess:
        """The raykube CLI against this cluster (``--address`` added)."""
        return _raykube(self.address, os.path.join(self.tmp, "data"), *args)

    def fails(self, *args: str, **kw) -> str:
        """kubectl that must fail; its stderr."""
        r = self.kubectl(*args, **kw)
        assert r.returncode != 0, f"kubectl {' '.join(args)} should have failed: {r.stdout}"
        return r.stderr


def _raykube(address: str, data: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RAYKUBE_DATA=data, RAY_AUTH_MODE="disabled")
    return subprocess.run([sys.executable, "-m", "actors.cli", *args, "--address", address],
                          capture_output=True, text=True, timeout=180, env=env)


def up(ray_address: str, tmp: str, *args: str) -> ControlPlane:
    """``raykube up ARGS`` on the session's Ray; fails the test if it does not come up."""
    if not os.path.exists(KUBECTL):
        pytest.fail("kubectl is required for the e2e tests (see .ci/run)")
    kubeconfig = os.path.join(tmp, "kubeconfig")
    r = _raykube(ray_address, os.path.join(tmp, "data"), "up", *args, "--port", "0", "--kubeconfig", kubeconfig)
    assert r.returncode == 0, r.stderr
    return ControlPlane(kubeconfig, ray_address, tmp)


def down(cp: ControlPlane) -> None:
    _raykube(cp.address, os.path.join(cp.tmp, "data"), "down", "--keep-ray")
