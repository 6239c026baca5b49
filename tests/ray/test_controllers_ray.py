"""The controller manager on Ray: two replicas over an apiserver; a Deployment
of 10 replicas becomes available as a test plays kubelet (marking pods
Ready), then rolls to a new image while the active replica is killed — the
other takes over and the rollout completes within maxSurge/maxUnavailable,
with no extra pods."""
from __future__ import annotations

import asyncio
import time

import pytest
import ray

from actors.apiserver.transport import RayTransport
from actors.controllers.manager import start_controller_managers
from actors.election import Timing
from kubeapi.client import Client
from tests.ray.plane import control_plane
from tests.fakes import is_ready, mark_ready, track_live

pytestmark = pytest.mark.ray

REPLICAS, SURGE, UNAVAILABLE = 10, 2, 1


@pytest.fixture
def plane(ray_cluster, data_root):
    with control_plane("ctrl", data_root, 500, lambda apis: start_controller_managers(
            2, first_index=500, apiservers=apis,
            timing=Timing(lease_duration=3, renew_deadline=2, retry_period=0.5))) as p:
        yield p


def _leader(cms: list) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for i, st in enumerate(ray.get([c.status.remote() for c in cms], timeout=10)):
            if st["leading"]:
                return i
        time.sleep(0.2)
    raise AssertionError("no controller manager leads")


def _deployment(image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ctrl"},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": SURGE, "maxUnavailable": UNAVAILABLE}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_deployment_rolls_out_across_a_controller_manager_kill(plane):
    apis, cms = plane
    first = _leader(cms)

    async def run() -> None:
        client = Client(RayTransport(apis), poll_seconds=0.5)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ctrl"}})
        live: dict[str, dict] = {}
        worst = {"total": 0, "ready": REPLICAS, "rolling": False}
        created: set[str] = set()

        async def kubelet() -> None:
            """Marks new pods Running/Ready; tracks the live pods at every event."""
            async for ev in client.watch("pods", "ctrl", resource_version="0", timeout_seconds=170):
                pod = ev["object"]
                track_live(live, ev)
                if pod["metadata"]["name"] in live:
                    created.add(pod["metadata"]["name"])
                if ev["type"] == "ADDED" and not pod["metadata"].get("deletionTimestamp"):
                    await mark_ready(client, pod)
                if worst["rolling"]:
                    ready = sum(1 for p in live.values() if is_ready(p))
                    worst["total"] = max(worst["total"], len(live))
                    worst["ready"] = min(worst["ready"], ready)
        watcher = asyncio.create_task(kubelet())

        async def rolled_out(image: str) -> bool:
            d = await client.get("deployments", "web", "ctrl")
            st = d.get("status") or {}
            pods = [p for p in live.values() if p["spec"]["containers"][0]["image"] == image]
            return (st.get("observedGeneration") == d["metadata"]["generation"]
                    and st.get("updatedReplicas") == REPLICAS and st.get("availableReplicas") == REPLICAS
                    and st.get("replicas") == REPLICAS and len(pods) == REPLICAS == len(live))

        async def until(pred, what: str, timeout: float = 60) -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if await pred():
                    return
                await asyncio.sleep(0.3)
            raise AssertionError(f"timed out waiting for {what}")

        await client.create(_deployment("app:v1"))
        await until(lambda: rolled_out("app:v1"), "10 available v1 pods")
        before = set(created)
        worst["rolling"] = True
        await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "app:v2"}]}}}}, "ctrl", patch_type="strategic")
        for _ in range(100):  # the rollout has begun: some v2 pod exists
            if any(p["spec"]["containers"][0]["image"] == "app:v2" for p in live.values()):
                break
            await asyncio.sleep(0.05)
        ray.kill(cms[first], no_restart=True)
        await until(lambda: rolled_out("app:v2"), "the v2 rollout after the handover", timeout=90)
        watcher.cancel()
        assert worst["total"] <= REPLICAS + SURGE, worst
        assert worst["ready"] >= REPLICAS - UNAVAILABLE, worst
        # no extra pods: exactly one v2 pod per replica was ever made
        assert len(created - before) == REPLICAS, sorted(created - before)
        rss = (await client.list("replicasets", "ctrl"))["items"]
        assert sorted((rs["spec"]["template"]["spec"]["containers"][0]["image"], rs["spec"]["replicas"])
                      for rs in rss) == [("app:v1", 0), ("app:v2", REPLICAS)]

    asyncio.run(asyncio.wait_for(run(), 170))
    other = 1 - first
    st = ray.get(cms[other].status.remote(), timeout=10)
    assert st["leading"] and st["controllers"]["deployment"]["syncs"] > 0
