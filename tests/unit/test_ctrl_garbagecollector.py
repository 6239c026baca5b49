"""The garbage collector against an in-process apiserver: background,
foreground and orphan cascades, dangling references, and owners deleted
while no collector ran."""
from __future__ import annotations

import asyncio

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.garbagecollector import GarbageCollector
from kubeapi import errors
from kubeapi.aio import cancel_and_wait
from kubeapi.client import Client
from kubeapi.informer import SharedInformerFactory

from tests.fakes import eventually

from .test_ctrl_replicaset import run

RESOURCES = ("configmaps", "secrets")


def cm(name: str, *owners: dict, block: bool = False, kind: str = "ConfigMap") -> dict:
    refs = [{"apiVersion": "v1", "kind": o["kind"], "name": o["metadata"]["name"], "uid": o["metadata"]["uid"],
             **({"blockOwnerDeletion": True} if block else {})} for o in owners]
    meta: dict = {"name": name, "namespace": "ns"}
    if refs:
        meta["ownerReferences"] = refs
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


class Collector:
    """A collector over shared informers, started and stopped at will."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.stop = asyncio.Event()
        self.gc = GarbageCollector(client)
        f = self.factory = SharedInformerFactory(client)
        for r in RESOURCES:
            f.informer(r).add_event_handler(self.gc.on_add, self.gc.on_update, self.gc.on_delete)
        f.start(self.stop)
        self.task = asyncio.create_task(self.gc.run(2, self.stop))

    async def close(self) -> None:
        self.stop.set()
        await cancel_and_wait([self.task])
        await self.factory.shutdown()


async def _setup():
    server = APIServer(LocalKV())
    client = Client(LocalTransport(server), poll_seconds=0.02)
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    return server, client


async def exists(client: Client, name: str, resource: str = "configmaps") -> dict | None:
    try:
        return await client.get(resource, name, "ns")
    except errors.ApiError as e:
        if errors.is_not_found(e):
            return None
        raise


def test_background_cascade_through_two_levels_and_across_kinds():
    async def go() -> None:
        server, client = await _setup()
        gc = Collector(client)
        a = await client.create(cm("a"))
        b = await client.create(cm("b", a))
        await client.create(cm("c", b, kind="Secret"))
        keep = await client.create(cm("keep"))
        await client.delete("configmaps", "a", "ns")  # Background, the default

        async def gone() -> bool:
            return await exists(client, "b") is None and await exists(client, "c", "secrets") is None
        await eventually(gone, "b and c to be collected")
        assert await exists(client, "keep") is not None and keep
        await gc.close()
        await server.close()
    run(go())


def test_orphan_removes_the_references_and_keeps_the_dependents():
    async def go() -> None:
        server, client = await _setup()
        gc = Collector(client)
        o = await client.create(cm("o"))
        await client.create(cm("d", o))
        await client.delete("configmaps", "o", "ns", propagation_policy="Orphan")

        async def orphaned() -> bool:
            d = await exists(client, "d")
            return await exists(client, "o") is None and d is not None and not d["metadata"].get("ownerReferences")
        await eventually(orphaned, "o deleted and d orphaned")
        await gc.close()
        await server.close()
    run(go())


def test_foreground_deletes_blocking_dependents_first_then_the_owner():
    async def go() -> None:
        server, client = await _setup()
        gc = Collector(client)
        f = await client.create(cm("f"))
        g = await client.create(cm("g", f, block=True))
        await client.create(cm("h", g, block=True))
        marked = await client.delete("configmaps", "f", "ns", propagation_policy="Foreground")
        assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]

        async def all_gone() -> bool:
            return all([await exists(client, n) is None for n in ("f", "g", "h")])
        await eventually(all_gone, "f, g and h to be deleted")
        await gc.close()
        await server.close()
    run(go())


def test_a_dangling_reference_is_removed_when_another_owner_lives():
    async def go() -> None:
        server, client = await _setup()
        gc = Collector(client)
        one, two = await client.create(cm("one")), await client.create(cm("two"))
        await client.create(cm("shared", one, two))
        await client.delete("configmaps", "one", "ns")

        async def trimmed() -> bool:
            s = await exists(client, "shared")
            return s is not None and [r["name"] for r in s["metadata"].get("ownerReferences") or ()] == ["two"]
        await eventually(trimmed, "the reference to one removed")
        await gc.close()
        await server.close()
    run(go())


def test_owners_deleted_while_no_collector_ran_are_found_after_a_restart():
    async def go() -> None:
        server, client = await _setup()
        a = await client.create(cm("a"))
        await client.create(cm("b", a))
        await client.delete("configmaps", "a", "ns")
        await asyncio.sleep(0.1)
        assert await exists(client, "b") is not None  # nobody collects yet
        gc = Collector(client)
        await eventually(lambda: _absent(client, "b"), "b collected by the new collector")
        await gc.close()
        await server.close()
    run(go())


async def _absent(client: Client, name: str) -> bool:
    return await exists(client, name) is None
