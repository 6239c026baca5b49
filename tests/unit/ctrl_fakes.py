"""What the controllers' pure tests share: a recording Writer and a runner."""
from __future__ import annotations

import asyncio
import copy

from kubeapi import errors
from kubeapi.patch import apply_json_patch, apply_merge_patch
from kubeapi.registry import REGISTRY

KINDS = {r.plural: r.kind for r in REGISTRY}


class Recorder:
    """A Writer that records every call; ``fail`` maps a verb to the errors
    its next calls raise (None: succeed)."""

    def __init__(self, *objects: dict) -> None:
        self.actions: list[tuple] = []
        self.objects = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
        self.fail: dict[str, list] = {}
        self.n = 0

    def _maybe_fail(self, verb: str) -> None:
        queue = self.fail.get(verb)
        if queue:
            err = queue.pop(0)
            if err is not None:
                raise err

    async def get(self, resource, name, namespace=None):
        obj = self.objects.get((KINDS[resource], namespace, name))
        if obj is None:
            raise errors.not_found(resource, name)
        return copy.deepcopy(obj)

    async def create(self, obj, namespace=None):
        self.actions.append(("create", obj["kind"], obj["metadata"].get("namespace"), obj))
        self._maybe_fail("create")
        self.n += 1
        meta = dict(obj["metadata"], uid=f"made-{self.n}")
        meta.setdefault("name", f"{meta.get('generateName')}{self.n}")
        made = dict(obj, metadata=meta)
        self.objects[(made["kind"], meta.get("namespace"), meta["name"])] = made
        return made

    async def patch(self, resource, name, patch, namespace=None, *, patch_type="merge", subresource=None):
        self.actions.append(("patch", resource, namespace, name, patch_type, patch))
        self._maybe_fail("patch")
        current = self.objects.get((KINDS[resource], namespace, name))
        if current is None:
            raise errors.not_found(resource, name)
        return apply_json_patch(current, patch) if patch_type == "json" else apply_merge_patch(current, patch)

    async def update(self, obj, *, subresource=None):
        self.actions.append(("update", obj["kind"], subresource, obj))
        self._maybe_fail("update")
        return obj

    async def update_status(self, obj):
        return await self.update(obj, subresource="status")

    async def delete(self, resource, name, namespace=None, *, grace_period_seconds=None,
                     propagation_policy=None, preconditions=None):
        self.actions.append(("delete", resource, namespace, name))
        self._maybe_fail("delete")
        return {}

    def verbs(self, verb: str) -> list[tuple]:
        return [a for a in self.actions if a[0] == verb]


def run(coro, timeout: float = 20):
    return asyncio.run(asyncio.wait_for(coro, timeout))
