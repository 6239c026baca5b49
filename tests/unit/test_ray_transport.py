"""The Ray transport's failover, with stand-in actor handles (no Ray runs)."""
from __future__ import annotations

import asyncio

import pytest
from ray.exceptions import RayActorError

from actors.apiserver.transport import RayTransport
from kubeapi import errors


class _Method:
    def __init__(self, handle: "_Handle", name: str) -> None:
        self.handle, self.name = handle, name

    def remote(self, *args):
        async def call():
            self.handle.calls.append((self.name, args))
            if self.handle.dead:
                raise RayActorError()
            return {"code": 200, "body": {"from": self.handle.label}, "events": [],
                    "resourceVersion": "7"}
        return call()


class _Handle:
    def __init__(self, label: str, dead: bool = False) -> None:
        self.label, self.dead, self.calls = label, dead, []

    def __getattr__(self, name: str) -> _Method:
        return _Method(self, name)


def test_reads_and_watch_polls_fail_over_writes_do_not():
    async def go():
        a, b = _Handle("a", dead=True), _Handle("b")
        t = RayTransport([a, b], retry_delay=0)
        t._next = 0  # start at the dead one
        r = await t.request("get", "", "v1", "pods", "ns", "x")
        assert r["body"] == {"from": "b"} and len(a.calls) == 1
        w = await t.watch("", "v1", "pods", "ns", "5", None, None, 1.0, True)
        assert w["resourceVersion"] == "7"
        t._next = 0
        with pytest.raises(errors.ApiError) as e:
            await t.request("create", "", "v1", "pods", "ns", body={})
        assert e.value.code == 503 and "outcome is unknown" in str(e.value)
        b.dead = True
        with pytest.raises(errors.ApiError) as e:
            await t.request("list", "", "v1", "pods", "ns")
        assert e.value.code == 503 and "no apiserver answered" in str(e.value)
        assert len(a.calls) + len(b.calls) > 4  # every replica was tried in every round
    asyncio.run(go())
