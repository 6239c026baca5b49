"""Claiming dependents (upstream's ``ControllerRefManager``): an owner keeps
the objects it controls that its selector still matches, releases the ones it
no longer matches, and adopts matching orphans — each change a JSON patch
that first tests the object's uid, so a replaced object is never touched."""
from __future__ import annotations

from typing import Any

from kubeapi import errors
from kubeapi.selectors import LabelSelector

from .base import Writer, labels_of
from .podutil import controller_ref, is_terminating, owner_reference


class RefManager:
    def __init__(self, client: Writer, resource: str, owner: dict, owner_resource: str,
                 selector: LabelSelector) -> None:
        self.client = client
        self.resource = resource  # the dependents' ("pods", "replicasets")
        self.owner = owner
        self.owner_resource = owner_resource
        self.selector = selector
        self._can_adopt: bool | None = None

    async def claim(self, candidates: list[dict]) -> list[dict]:
        """The candidates this owner controls after claiming."""
        uid = self.owner["metadata"]["uid"]
        going = is_terminating(self.owner)
        owned: list[dict] = []
        for obj in candidates:
            ref = controller_ref(obj)
            matches = self.selector.matches(labels_of(obj))
            if ref is not None:
                if ref.get("uid") != uid:
                    continue  # another controller's
                if matches or going:  # (an owner going away releases nothing)
                    owned.append(obj)
                else:
                    await self._release(obj, uid)
            elif matches and not going and not is_terminating(obj) and await self.can_adopt():
                adopted = await self._patch(obj, self._adopt_ops(obj))
                if adopted is not None:
                    owned.append(adopted)
        return owned

    async def can_adopt(self) -> bool:
        """A fresh read, once: never adopt for an owner being deleted or replaced."""
        if self._can_adopt is None:
            meta = self.owner["metadata"]
            try:
                fresh = await self.client.get(self.owner_resource, meta["name"], meta.get("namespace"))
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    raise
                self._can_adopt = False
            else:
                fmeta = fresh["metadata"]
                self._can_adopt = fmeta.get("uid") == meta["uid"] and not fmeta.get("deletionTimestamp")
        return self._can_adopt

    def _adopt_ops(self, obj: dict) -> list[dict]:
        ref = owner_reference(self.owner)
        return [{"op": "add", "path": "/metadata/ownerReferences/-", "value": ref}
                if obj["metadata"].get("ownerReferences") else
                {"op": "add", "path": "/metadata/ownerReferences", "value": [ref]}]

    async def _release(self, obj: dict, uid: str) -> None:
        refs = obj["metadata"].get("ownerReferences") or []
        idx = next((i for i, r in enumerate(refs) if r.get("uid") == uid), None)
        if idx is not None:
            await self._patch(obj, [{"op": "test", "path": f"/metadata/ownerReferences/{idx}/uid", "value": uid},
                                    {"op": "remove", "path": f"/metadata/ownerReferences/{idx}"}])

    async def _patch(self, obj: dict, ops: list[dict]) -> Any:
        meta = obj["metadata"]
        ops = [{"op": "test", "path": "/metadata/uid", "value": meta.get("uid")}, *ops]
        try:
            return await self.client.patch(self.resource, meta["name"], ops, meta.get("namespace"),
                                           patch_type="json")
        except errors.ApiError as e:
            if errors.is_not_found(e) or e.code == 422:
                return None  # gone, or replaced by another object of the same name
            raise
