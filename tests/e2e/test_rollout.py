"""Deployments driven by the real kubectl: the controller manager rolls them
out while this test plays kubelet (no nodes run pods yet: it marks each new
pod Running and Ready), and kubectl's rollout commands follow along."""
from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from kubeapi.client import Client
from kubeapi.httptransport import HTTPTransport
from tests.fakes import finish_deletion, is_ready, mark_ready

from .test_kubectl import DEPLOYMENT, _ns

pytestmark = [pytest.mark.e2e, pytest.mark.ray]


class FakeKubelet:
    """Marks every new pod of a namespace Running and Ready, and finishes the
    deletion of pods on a node, from a thread of its own."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.kubeconfig, self.namespace = kubeconfig, namespace
        self.loop = asyncio.new_event_loop()
        self.marked = 0
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)
        self._stopping: asyncio.Event | None = None

    async def _run(self) -> None:
        self._stopping = asyncio.Event()
        transport = HTTPTransport.from_kubeconfig(self.kubeconfig)
        client = Client(transport, poll_seconds=1.0)
        try:
            rv = "0"
            while not self._stopping.is_set():
                async for ev in client.watch("pods", self.namespace, resource_version=rv, timeout_seconds=2):
                    pod = ev["object"]
                    rv = pod["metadata"].get("resourceVersion") or rv
                    if ev["type"] == "DELETED":
                        continue
                    if pod["metadata"].get("deletionTimestamp"):
                        await finish_deletion(client, pod)  # pods the scheduler put on a node
                    elif not is_ready(pod):
                        self.marked += await mark_ready(client, pod)
        finally:
            await transport.close()

    def __enter__(self) -> FakeKubelet:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stopping is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
        self.thread.join(timeout=10)


def test_rollout_status_set_image_history_undo_and_scale(control_plane):
    cp = control_plane
    ns = _ns(cp, "rollout")
    with FakeKubelet(cp.kubeconfig, ns) as kubelet:
        cp.ok("apply", "-n", ns, "-f", "-", input=DEPLOYMENT)
        out = cp.ok("rollout", "status", "-n", ns, "deployment/web", "--timeout=90s", timeout=120)
        assert 'deployment "web" successfully rolled out' in out
        cp.ok("annotate", "-n", ns, "deployment/web", "kubernetes.io/change-cause=to 1.26")
        cp.ok("set", "image", "-n", ns, "deployment/web", "nginx=nginx:1.26")
        out = cp.ok("rollout", "status", "-n", ns, "deployment/web", "--timeout=90s", timeout=120)
        assert 'deployment "web" successfully rolled out' in out
        history = cp.ok("rollout", "history", "-n", ns, "deployment/web")
        rows = [line.split(None, 1) for line in history.splitlines()[2:] if line.strip()]
        assert [r[0] for r in rows] == ["1", "2"] and rows[1][1].strip() == "to 1.26", history
        assert "nginx:1.26" in cp.ok("rollout", "history", "-n", ns, "deployment/web", "--revision=2")

        assert "rolled back" in cp.ok("rollout", "undo", "-n", ns, "deployment/web")
        cp.ok("rollout", "status", "-n", ns, "deployment/web", "--timeout=90s", timeout=120)
        assert cp.ok("get", "-n", ns, "deploy", "web", "-o",
                     "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:1.25"
        revisions = cp.ok("rollout", "history", "-n", ns, "deployment/web").splitlines()[2:]
        assert [r.split()[0] for r in revisions if r.strip()] == ["2", "3"]  # revision 1 came back as 3

        cp.ok("scale", "-n", ns, "deployment/web", "--replicas=4")
        cp.ok("rollout", "status", "-n", ns, "deployment/web", "--timeout=90s", timeout=120)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pods = json.loads(cp.ok("get", "-n", ns, "pods", "-l", "app=web", "-o", "json"))["items"]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if len(live) == 4:
                break
            time.sleep(0.5)
        assert len(live) == 4 and all(p["spec"]["containers"][0]["image"] == "nginx:1.25" for p in live)
        rs = json.loads(cp.ok("get", "-n", ns, "replicasets", "-o", "json"))["items"]
        assert sorted(r["spec"]["replicas"] for r in rs) == [0, 4]
        assert kubelet.marked >= 8

        # a Deployment deleted the default way (background) takes its ReplicaSets and pods with it
        cp.ok("delete", "-n", ns, "deployment/web")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = cp.ok("get", "-n", ns, "replicasets,pods", "-o", "name").split()
            if not left:
                break
            time.sleep(0.5)
        pods = json.loads(cp.ok("get", "-n", ns, "pods", "-o", "json"))["items"]
        assert left == [], [(p["metadata"]["name"], p["metadata"].get("deletionTimestamp"), p["spec"].get("nodeName"),
                             p["metadata"].get("ownerReferences"), p["metadata"].get("finalizers")) for p in pods]
