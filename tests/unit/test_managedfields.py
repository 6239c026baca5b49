"""Field ownership and server-side apply over plain dicts, then through the handler."""
from __future__ import annotations

import asyncio
import json

import pytest

from actors.apiserver.handler import APIHandler, Request
from actors.apiserver.storage import LocalKV, ObjectStore
from kubeapi import managedfields as mf

NOW = "2026-01-01T00:00:00Z"


def deployment(replicas: int = 2, image: str = "nginx:1.25", extra_containers: tuple = ()) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "nginx", "image": image},
                                                          *extra_containers]}}}}


def test_field_sets_round_trip_through_fields_v1():
    fs = mf.field_set(deployment(), "Deployment")
    assert ("f:spec", "f:replicas") in fs
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"nginx"}', "f:image") in fs
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"nginx"}') in fs
    assert ("f:metadata", "f:labels", "f:app") in fs
    assert not any(p[:2] == ("f:metadata", "f:name") for p in fs)  # identity is not owned
    v1 = mf.to_fields_v1(fs)
    assert v1["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']["."] == {}
    assert mf.from_fields_v1(v1) == fs
    fin = mf.field_set({"metadata": {"finalizers": ["a", "b"]}}, "ConfigMap")
    assert fin == {("f:metadata", "f:finalizers", 'v:"a"'), ("f:metadata", "f:finalizers", 'v:"b"')}


def test_apply_creates_owns_and_prunes_what_it_stops_applying():
    first = mf.apply(None, deployment(extra_containers=({"name": "side", "image": "busybox"},)),
                     "Deployment", "ci", force=False, now=NOW, api_version="apps/v1")
    entries = first["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in entries] == [("ci", "Apply")]
    # the sidecar leaves the configuration: it leaves the object (nobody else owns it)
    second = mf.apply(first, deployment(), "Deployment", "ci", force=False, now=NOW, api_version="apps/v1")
    assert [c["name"] for c in second["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    # a label someone else set stays when the applier never owned it
    labelled = json.loads(json.dumps(second))
    labelled["metadata"]["labels"]["team"] = "blue"
    mf.track_update(second, labelled, "Deployment", "kubectl-label", now=NOW, api_version="apps/v1")
    third = mf.apply(labelled, deployment(), "Deployment", "ci", force=False, now=NOW, api_version="apps/v1")
    assert third["metadata"]["labels"] == {"app": "web", "team": "blue"}
    owners = {e["manager"]: e for e in third["metadata"]["managedFields"]}
    assert set(owners) == {"ci", "kubectl-label"}
    assert owners["kubectl-label"]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:team": {}}}}


def test_conflicts_and_force():
    live = mf.apply(None, deployment(), "Deployment", "ci", force=False, now=NOW, api_version="apps/v1")
    scaled = json.loads(json.dumps(live))
    scaled["spec"]["replicas"] = 5
    mf.track_update(live, scaled, "Deployment", "hpa", now=NOW, api_version="apps/v1", subresource="scale")
    # the same value is shared ownership, not a conflict
    same = mf.apply(scaled, deployment(replicas=5), "Deployment", "other", force=False, now=NOW,
                    api_version="apps/v1")
    assert same["spec"]["replicas"] == 5
    with pytest.raises(mf.ApplyConflict) as e:
        mf.apply(scaled, deployment(replicas=3), "Deployment", "ci", force=False, now=NOW, api_version="apps/v1")
    assert str(e.value) == ('Apply failed with 1 conflict: conflict with "hpa" with subresource "scale" '
                            'using apps/v1: .spec.replicas')
    forced = mf.apply(scaled, deployment(replicas=3), "Deployment", "ci", force=True, now=NOW,
                      api_version="apps/v1")
    assert forced["spec"]["replicas"] == 3
    assert "hpa" not in [e["manager"] for e in forced["metadata"]["managedFields"]]  # lost its only field
    with pytest.raises(mf.ApplyConflict) as e:
        mf.apply(scaled, deployment(replicas=3, image="nginx:2"), "Deployment", "x", force=False, now=NOW,
                 api_version="apps/v1")
    assert str(e.value).startswith("Apply failed with 2 conflicts: \n* conflict with ")


def _handler() -> APIHandler:
    return APIHandler(ObjectStore(LocalKV(), clock=lambda: 1_700_000_000.0))


def test_apply_through_the_handler():
    async def go():
        h = _handler()
        await h.handle(Request("create", "", "v1", "namespaces", body={"metadata": {"name": "team"}}))

        def apply(body, **q):
            return h.handle(Request("patch", "apps", "v1", "deployments", "team", "web", body=body,
                                    patch_type="apply", query={"fieldManager": "ci", **q}))
        created = await apply(deployment())
        assert created.code == 201, created.body
        assert created.body["spec"]["strategy"]["type"] == "RollingUpdate"  # defaults still apply
        scaled = await h.handle(Request("patch", "apps", "v1", "deployments", "team", "web",
                                        subresource="scale", body={"spec": {"replicas": 4}},
                                        patch_type="merge", query={"fieldManager": "kubectl-scale"}))
        assert scaled.code == 200
        conflict = await apply(deployment(replicas=3))
        assert conflict.code == 409 and conflict.body["reason"] == "Conflict"
        assert conflict.body["details"]["causes"] == [{
            "reason": "FieldManagerConflict", "field": ".spec.replicas",
            "message": 'conflict with "kubectl-scale" with subresource "scale" using apps/v1'}]
        forced = await apply(deployment(replicas=3), force="true")
        assert forced.code == 200 and forced.body["spec"]["replicas"] == 3
        missing = await h.handle(Request("patch", "apps", "v1", "deployments", "team", "web",
                                         body=deployment(), patch_type="apply"))
        assert missing.code == 400 and "fieldManager is required" in missing.body["message"]
        wrong = await apply(dict(deployment(), kind="StatefulSet"))
        assert wrong.code == 400
        bad_force = await h.handle(Request("patch", "apps", "v1", "deployments", "team", "web",
                                           body={}, patch_type="merge", query={"force": "true"}))
        assert bad_force.code == 400
        # an ordinary update records an Update entry for its manager
        upd = await h.handle(Request("patch", "apps", "v1", "deployments", "team", "web",
                                     body={"metadata": {"annotations": {"note": "x"}}}, patch_type="merge",
                                     query={"fieldManager": "ops"}))
        ops = [e for e in upd.body["metadata"]["managedFields"] if e["manager"] == "ops"]
        assert ops and ops[0]["operation"] == "Update" and \
            ops[0]["fieldsV1"] == {"f:metadata": {"f:annotations": {"f:note": {}}}}
    asyncio.run(go())
