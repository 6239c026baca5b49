"""The official `kubernetes` Python client (from PyPI) against raykube, unchanged."""
from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.e2e, pytest.mark.ray]


@pytest.fixture(scope="module")
def api(control_plane):
    c = config.new_client_from_config(config_file=control_plane.kubeconfig)
    core = client.CoreV1Api(c)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pyclient")))
    deadline = time.monotonic() + 30
    while not core.list_namespaced_service_account("pyclient", field_selector="metadata.name=default").items:
        assert time.monotonic() < deadline, "no default service account in pyclient"
        time.sleep(0.2)  # pods need it: upstream's e2e waits the same way
    yield c
    c.close()


def test_crud_on_several_kinds(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    cm = core.create_namespaced_config_map("pyclient", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings", labels={"app": "demo"}), data={"mode": "fast"}))
    assert cm.metadata.uid and cm.data == {"mode": "fast"}
    cm.data["mode"] = "safe"
    updated = core.replace_namespaced_config_map("settings", "pyclient", cm)
    assert updated.data["mode"] == "safe" and int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    dep = apps.create_namespaced_deployment("pyclient", client.V1Deployment(
        metadata=client.V1ObjectMeta(name="api"),
        spec=client.V1DeploymentSpec(
            replicas=3, selector=client.V1LabelSelector(match_labels={"app": "api"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "api"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="api", image="python:3.11")])))))
    assert dep.spec.strategy.type == "RollingUpdate" and dep.spec.revision_history_limit == 10
    scaled = apps.patch_namespaced_deployment("api", "pyclient", {"spec": {"replicas": 1}})
    assert scaled.spec.replicas == 1 and scaled.metadata.generation == 2
    scale = apps.read_namespaced_deployment_scale("api", "pyclient")
    assert scale.spec.replicas == 1
    pod = core.create_namespaced_pod("pyclient", client.V1Pod(
        metadata=client.V1ObjectMeta(name="one"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")])))
    assert pod.status.phase == "Pending" and pod.spec.service_account_name == "default"
    core.delete_namespaced_config_map("settings", "pyclient")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("settings", "pyclient")
    assert e.value.status == 404
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod("pyclient", pod)
    assert e.value.status == 409 and "already exists" in e.value.body


def test_list_with_selectors_and_paging(api):
    core = client.CoreV1Api(api)
    for i in range(7):
        core.create_namespaced_config_map("pyclient", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"page-{i}", labels={"set": "paged", "odd": str(i % 2)})))
    names, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map("pyclient", label_selector="set=paged", limit=3,
                                               _continue=token)
        pages += 1
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"page-{i}" for i in range(7)] and pages == 3
    odd = core.list_namespaced_config_map("pyclient", label_selector="set=paged,odd in (1)")
    assert [c.metadata.name for c in odd.items] == ["page-1", "page-3", "page-5"]
    one = core.list_namespaced_config_map("pyclient", field_selector="metadata.name=page-4")
    assert [c.metadata.name for c in one.items] == ["page-4"]
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map("pyclient", label_selector="set in (")
    assert e.value.status == 400


def test_optimistic_concurrency(api):
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map("pyclient", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cas"), data={"v": "0"}))
    a = core.read_namespaced_config_map("cas", "pyclient")
    b = core.read_namespaced_config_map("cas", "pyclient")
    a.data["v"] = "a"
    core.replace_namespaced_config_map("cas", "pyclient", a)
    b.data["v"] = "b"
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("cas", "pyclient", b)
    assert e.value.status == 409 and "the object has been modified" in e.value.body
    now = core.read_namespaced_config_map("cas", "pyclient")
    assert now.data["v"] == "a" and now.metadata.resource_version != first.metadata.resource_version


def test_watch_sees_every_event_across_an_etcd_leader_kill(api, control_plane):
    from raftstore.cluster import EtcdCluster

    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map("pyclient").metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def watcher() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, "pyclient", resource_version=start,
                           label_selector="w=1", timeout_seconds=60):
            seen.append((ev["type"], ev["object"].metadata.name))
            if len(seen) == 40:
                w.stop()
        done.set()

    t = threading.Thread(target=watcher, daemon=True)
    t.start()
    etcd = EtcdCluster.attach("raykube")
    for i in range(20):
        if i == 8:
            etcd.kill(etcd.wait_for_leader(), "sigkill")
        core.create_namespaced_config_map("pyclient", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"w{i}", labels={"w": "1"})))
        core.delete_namespaced_config_map(f"w{i}", "pyclient")
    assert done.wait(60), f"watch saw only {len(seen)} events"
    want = [(t, f"w{i}") for i in range(20) for t in ("ADDED", "DELETED")]
    assert seen == want
