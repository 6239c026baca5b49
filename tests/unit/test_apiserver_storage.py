"""The apiserver's storage layer on an in-process MVCC store."""
from __future__ import annotations

import asyncio
import random

import pytest

from actors.apiserver.storage import LocalKV, ObjectStore
from kubeapi import errors
from kubeapi.registry import by_plural
from kubeapi.selectors import parse_field_selector, parse_label_selector

PODS = by_plural("", "v1", "pods")
CMS = by_plural("", "v1", "configmaps")
DEPLOY = by_plural("apps", "v1", "deployments")
NS = by_plural("", "v1", "namespaces")


def run(coro):
    return asyncio.run(coro)


def store() -> ObjectStore:
    return ObjectStore(LocalKV(), clock=lambda: 1_700_000_000.0, rng=random.Random(1))


def pod(name: str, labels: dict | None = None, node: str | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": spec}


def test_create_get_and_resource_version_is_the_mod_revision():
    s = store()

    async def go():
        created = await s.create(PODS, "default", pod("web"))
        got = await s.get(PODS, "default", "web")
        return created, got, s.kv.store
    created, got, mvcc = run(go())
    m = got["metadata"]
    assert m["resourceVersion"] == created["metadata"]["resourceVersion"] == "2"
    assert m["namespace"] == "default" and m["generation"] == 1 and len(m["uid"]) == 36
    assert m["creationTimestamp"] == "2023-11-14T22:13:20Z"
    raw = mvcc.range(b"/registry/pods/default/web")["kvs"][0]
    assert b"resourceVersion" not in raw["value"] and raw["mod_revision"] == 2


def test_create_twice_is_already_exists_and_get_missing_is_not_found():
    s = store()

    async def go():
        await s.create(PODS, "default", pod("web"))
        with pytest.raises(errors.ApiError) as e1:
            await s.create(PODS, "default", pod("web"))
        with pytest.raises(errors.ApiError) as e2:
            await s.get(DEPLOY, "default", "nope")
        return e1.value, e2.value
    e1, e2 = run(go())
    assert e1.code == 409 and e1.status()["message"] == 'pods "web" already exists'
    assert e2.code == 404 and e2.status()["message"] == 'deployments.apps "nope" not found'


def test_generate_name_and_missing_name():
    s = store()

    async def go():
        o = await s.create(CMS, "default", {"metadata": {"generateName": "cfg-"}, "data": {}})
        with pytest.raises(errors.ApiError) as e:
            await s.create(CMS, "default", {"metadata": {}})
        return o, e.value
    o, e = run(go())
    assert o["metadata"]["name"].startswith("cfg-") and len(o["metadata"]["name"]) == 9
    assert e.code == 422 and e.status()["details"]["causes"][0]["field"] == "metadata.name"


def test_update_is_compare_and_swap_and_bumps_generation_on_spec_change():
    s = store()

    async def go():
        d = await s.create(DEPLOY, "ns", {"metadata": {"name": "d"}, "spec": {"replicas": 1},
                                          "status": {"replicas": 0}})
        stale = dict(d)
        d2 = dict(d, spec={"replicas": 3}, status={"replicas": 99})
        up = await s.update(DEPLOY, "ns", d2)
        with pytest.raises(errors.ApiError) as conflict:
            await s.update(DEPLOY, "ns", dict(stale, spec={"replicas": 5}))
        labels_only = dict(up, metadata=dict(up["metadata"], labels={"a": "b"}))
        up2 = await s.update(DEPLOY, "ns", labels_only)
        st = await s.update(DEPLOY, "ns", dict(up2, status={"replicas": 3}, spec={"replicas": 7}),
                            subresource="status")
        return d, up, conflict.value, up2, st
    d, up, conflict, up2, st = run(go())
    assert up["metadata"]["generation"] == 2 and up["status"] == {"replicas": 0}  # status kept
    assert int(up["metadata"]["resourceVersion"]) > int(d["metadata"]["resourceVersion"])
    assert conflict.code == 409 and "the object has been modified" in conflict.status()["message"]
    assert up2["metadata"]["generation"] == 2 and up2["metadata"]["uid"] == d["metadata"]["uid"]
    assert st["status"] == {"replicas": 3} and st["spec"] == {"replicas": 3}  # spec untouched
    assert st["metadata"]["generation"] == 2


def test_list_with_selectors_and_paging_at_one_revision():
    s = store()

    async def go():
        for i in range(7):
            await s.create(PODS, "a", pod(f"p{i}", {"app": "web" if i % 2 else "db"},
                                          node="n1" if i < 3 else "n2"))
        await s.create(PODS, "b", pod("other", {"app": "web"}))
        everything = await s.list(PODS)
        web_a = await s.list(PODS, "a", label_selector=parse_label_selector("app=web"))
        on_n1 = await s.list(PODS, "a", field_selector=parse_field_selector("spec.nodeName=n1"))
        first = await s.list(PODS, "a", limit=3)
        await s.create(PODS, "a", pod("late"))            # after the first page
        second = await s.list(PODS, "a", limit=3, continue_token=first["metadata"]["continue"])
        third = await s.list(PODS, "a", limit=3, continue_token=second["metadata"]["continue"])
        with pytest.raises(errors.ApiError) as bad:
            await s.list(PODS, "a", continue_token="garbage!")
        return everything, web_a, on_n1, first, second, third, bad.value
    everything, web_a, on_n1, first, second, third, bad = run(go())
    assert everything["kind"] == "PodList" and len(everything["items"]) == 8
    assert [p["metadata"]["name"] for p in web_a["items"]] == ["p1", "p3", "p5"]
    assert [p["metadata"]["name"] for p in on_n1["items"]] == ["p0", "p1", "p2"]
    names = [p["metadata"]["name"] for page in (first, second, third) for p in page["items"]]
    assert names == [f"p{i}" for i in range(7)], "pages must not see the later write"
    assert "continue" not in third["metadata"]
    assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    assert bad.code == 400


def test_delete_plain_with_finalizers_and_graceful_pods():
    s = store()

    async def go():
        await s.create(CMS, "default", {"metadata": {"name": "c"}})
        obj, gone = await s.delete(CMS, "default", "c")
        with pytest.raises(errors.ApiError) as nf:
            await s.get(CMS, "default", "c")
        await s.create(NS, None, {"metadata": {"name": "team", "finalizers": ["kubernetes"]}})
        marked, gone_ns = await s.delete(NS, None, "team")
        still = await s.get(NS, None, "team")
        done = dict(still, metadata=dict(still["metadata"], finalizers=[]))
        await s.update(NS, None, done)
        with pytest.raises(errors.ApiError) as ns_gone:
            await s.get(NS, None, "team")
        await s.create(PODS, "default", pod("bound", node="n1"))
        p1, pod_gone = await s.delete(PODS, "default", "bound")
        p2, pod_gone2 = await s.delete(PODS, "default", "bound", grace_period_seconds=0)
        await s.create(PODS, "default", pod("unbound"))
        _, unbound_gone = await s.delete(PODS, "default", "unbound")
        return gone, nf.value, marked, gone_ns, ns_gone.value, p1, pod_gone, pod_gone2, unbound_gone
    gone, nf, marked, gone_ns, ns_gone, p1, pod_gone, pod_gone2, unbound_gone = run(go())
    assert gone and nf.code == 404
    assert not gone_ns and "deletionTimestamp" in marked["metadata"] and ns_gone.code == 404
    assert not pod_gone and p1["metadata"]["deletionGracePeriodSeconds"] == 30
    assert pod_gone2 and unbound_gone


def test_delete_preconditions():
    s = store()

    async def go():
        c = await s.create(CMS, "default", {"metadata": {"name": "c"}})
        with pytest.raises(errors.ApiError) as e1:
            await s.delete(CMS, "default", "c", precondition_uid="not-it")
        with pytest.raises(errors.ApiError) as e2:
            await s.delete(CMS, "default", "c", precondition_resource_version="1")
        _, gone = await s.delete(CMS, "default", "c", precondition_uid=c["metadata"]["uid"])
        return e1.value, e2.value, gone
    e1, e2, gone = run(go())
    assert e1.code == 409 and "Precondition failed" in e1.status()["message"]
    assert e2.code == 409 and gone


def test_list_at_a_compacted_revision_is_expired():
    s = store()

    async def go():
        for i in range(3):
            await s.create(CMS, "default", {"metadata": {"name": f"c{i}"}})
        s.kv.store.compact(s.kv.store.revision)
        with pytest.raises(errors.ApiError) as e:
            await s.list(CMS, "default", resource_version="2")
        return e.value
    e = run(go())
    assert e.code == 410 and e.status()["reason"] == "Expired"


def test_a_pod_held_only_by_finalizers_goes_when_they_do():
    """Unbound (or deleted with no grace) pods wait for finalizers, not for a
    kubelet: clearing the last one deletes them; a pod in its grace period stays."""
    s = store()

    async def go():
        await s.create(PODS, "default", pod("held"))
        marked, gone = await s.delete(PODS, "default", "held", propagation_policy="Foreground")
        assert not gone and marked["metadata"]["finalizers"] == ["foregroundDeletion"]
        await s.update(PODS, "default", dict(marked, metadata=dict(marked["metadata"], finalizers=[])))
        with pytest.raises(errors.ApiError) as e:
            await s.get(PODS, "default", "held")
        assert e.value.code == 404
        await s.create(PODS, "default", pod("graceful", node="n1"))
        marked, _ = await s.delete(PODS, "default", "graceful", propagation_policy="Foreground")
        await s.update(PODS, "default", dict(marked, metadata=dict(marked["metadata"], finalizers=[])))
        still = await s.get(PODS, "default", "graceful")
        assert still["metadata"]["deletionGracePeriodSeconds"] == 30  # its kubelet finishes it
    run(go())
