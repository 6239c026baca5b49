"""Namespace deletion: the apiserver marks a namespace Terminating while its
``kubernetes`` finalizer holds, the controller empties it (waiting for pods
in their grace period and objects with finalizers), then finalizes it."""
from __future__ import annotations

import asyncio

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.namespace import NamespaceController
from kubeapi import errors
from kubeapi.client import Client
from kubeapi.informer import SharedInformer
from tests.fakes import eventually, finish_deletion

from .ctrl_fakes import run

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}


def _pod(name: str, node: str = "") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "team"}, "spec": spec}


async def _cluster() -> tuple[APIServer, Client]:
    server = APIServer(LocalKV())
    client = Client(LocalTransport(server), poll_seconds=0.05)
    await client.create(NS)
    return server, client


def test_the_apiserver_marks_a_namespace_terminating_and_refuses_new_content():
    async def go() -> None:
        server, client = await _cluster()
        ns = await client.get("namespaces", "team")
        assert ns["spec"]["finalizers"] == ["kubernetes"] and ns["status"]["phase"] == "Active"
        marked = await client.delete("namespaces", "team")
        assert marked["metadata"]["deletionTimestamp"] and marked["status"]["phase"] == "Terminating"
        with pytest.raises(errors.ApiError) as e:
            await client.create(_pod("late"))
        assert e.value.code == 403 and "being terminated" in str(e.value)
        with pytest.raises(errors.ApiError) as e:  # a second delete: as upstream, 409 saying why
            await client.delete("namespaces", "team")
        assert e.value.code == 409 and "ensuring all content is removed" in str(e.value)
        # a plain update may not drop the finalizer; a status write does not finish it
        cur = await client.get("namespaces", "team")
        await client.update(dict(cur, spec={"finalizers": []}))
        await client.update_status(dict(await client.get("namespaces", "team"),
                                        status={"phase": "Terminating", "conditions": []}))
        assert (await client.get("namespaces", "team"))["spec"]["finalizers"] == ["kubernetes"]
        # namespaces/finalize empties it, and the namespace is gone
        await client.update(dict(await client.get("namespaces", "team"), spec={"finalizers": []}),
                            subresource="finalize")
        with pytest.raises(errors.ApiError) as e:
            await client.get("namespaces", "team")
        assert e.value.code == 404
        for name in ("default", "kube-system", "kube-public"):
            with pytest.raises(errors.ApiError) as e:
                await client.delete("namespaces", name)
            assert e.value.code == 403 and "may not be deleted" in str(e.value)
        await server.close()
    run(go())


def test_deleting_a_namespace_deletes_everything_in_it_then_the_namespace():
    async def go() -> None:
        server, client = await _cluster()
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
        nsi = SharedInformer(client, "namespaces")
        c = NamespaceController(nsi.indexer, client, recheck=0.05)
        nsi.add_event_handler(c.on_namespace, c.on_namespace_update, c.on_namespace_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(nsi.run(stop)), asyncio.create_task(c.run(2, stop))]
        await client.create(_pod("free"))
        await client.create(_pod("bound", node="n1"))  # stays through its grace period
        await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "held", "namespace": "team", "finalizers": ["example.com/x"]}})
        await client.create({"apiVersion": "apps/v1", "kind": "Deployment",
                             "metadata": {"name": "d", "namespace": "team"},
                             "spec": {"selector": {"matchLabels": {"a": "b"}},
                                      "template": {"metadata": {"labels": {"a": "b"}},
                                                   "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
        await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "elsewhere", "namespace": "other"}})
        await client.delete("namespaces", "team")

        async def reasons() -> dict:
            ns = await client.get("namespaces", "team")
            return {c["type"]: c for c in ns["status"].get("conditions") or ()}

        async def waiting_on_both() -> bool:
            conds = await reasons()
            return "SomeFinalizersRemain" == conds.get("NamespaceFinalizersRemaining", {}).get("reason") \
                and "pods has 1" in conds.get("NamespaceContentRemaining", {}).get("message", "")
        await eventually(waiting_on_both, "conditions naming the pod and the finalizer left")
        assert (await client.list("deployments", "team"))["items"] == []
        assert [p["metadata"]["name"] for p in (await client.list("pods", "team"))["items"]] == ["bound"]
        # the kubelet finishes the pod, someone removes their finalizer: then the namespace goes
        await finish_deletion(client, await client.get("pods", "bound", "team"))
        await client.patch("configmaps", "held", {"metadata": {"finalizers": None}}, "team")

        async def gone() -> bool:
            try:
                await client.get("namespaces", "team")
            except errors.ApiError as e:
                return e.code == 404
            return False
        await eventually(gone, "the namespace deleted")
        assert [o["metadata"]["name"] for o in (await client.list("configmaps", "other"))["items"]] == ["elsewhere"]
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go())
