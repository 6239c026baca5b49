"""The Ray transport of the Kubernetes API: calls to the apiserver actors.

Components inside the cluster reach the apiserver replicas by their actor
names (``apiserver-<i>`` in the Ray namespace ``raykube``). A replica that
dies or stops answering is skipped for the next one; names are looked up
again when every known replica failed, so replicas that were added or
restarted are found. Reads and watch polls (which resume from a cursor) are
retried on another replica; a write whose replica died mid-call has an
unknown outcome and fails with 503, for the caller's retry loop to decide,
as client-go does for a write that lost its connection.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, RayActorError

from kubeapi import errors

from .actor import NAMESPACE

log = logging.getLogger("raykube.transport")

_DOWN = (RayActorError, ActorUnavailableError, asyncio.TimeoutError)
_READS = frozenset({"get", "list"})


def find_apiservers(namespace: str = NAMESPACE) -> list[Any]:
    """Handles of the named apiserver actors that exist now."""
    names = sorted(e["name"] for e in ray.util.list_named_actors(all_namespaces=True)
                   if e["namespace"] == namespace and e["name"].startswith("apiserver-"))
    handles = []
    for n in names:
        try:
            handles.append(ray.get_actor(n, namespace=namespace))
        except ValueError:  # gone since the listing
            pass
    return handles


class RayTransport:
    """:class:`kubeapi.client.Transport` over apiserver actor handles."""

    def __init__(self, handles: list[Any] | None = None, *, namespace: str = NAMESPACE,
                 call_timeout: float = 30.0, rounds: int = 3, retry_delay: float = 0.5,
                 rng: random.Random | None = None) -> None:
        self.namespace = namespace
        self.call_timeout = call_timeout
        self.rounds = rounds
        self.retry_delay = retry_delay
        self._fixed = handles is not None
        self._handles = list(handles or [])
        self._stale = False  # a replica failed: look the names up again first
        self._next = (rng or random.Random()).randrange(1 << 16)

    async def _refresh(self) -> None:
        if not self._fixed:
            self._handles = await asyncio.to_thread(find_apiservers, self.namespace)

    async def _call(self, method: str, retry: bool, *args: Any) -> dict:
        last: BaseException | None = None
        for rnd in range(self.rounds):
            if not self._handles or rnd > 0 or self._stale:
                self._stale = False
                if rnd > 0:
                    await asyncio.sleep(self.retry_delay * rnd)
                await self._refresh()
            if not self._handles:
                last = LookupError("no apiserver is running")
                continue
            for _ in range(len(self._handles)):
                h = self._handles[self._next % len(self._handles)]
                try:
                    return await asyncio.wait_for(getattr(h, method).remote(*args), self.call_timeout)
                except _DOWN as e:
                    last = e
                    self._stale = True
                    self._next += 1  # the next call starts at the next replica
                    if not retry:
                        raise errors.service_unavailable(
                            f"the apiserver did not answer the write ({type(e).__name__}); "
                            f"its outcome is unknown") from None
        raise errors.service_unavailable(f"no apiserver answered: {type(last).__name__}: "
                                         f"{str(last).splitlines()[0] if last and str(last) else ''}")

    async def request(self, verb: str, group: str, version: str, resource: str,
                      namespace: str | None = None, name: str | None = None,
                      subresource: str | None = None, body: Any = None,
                      patch_type: str | None = None, query: dict | None = None) -> dict:
        return await self._call("request", verb in _READS, verb, group, version, resource,
                                namespace, name, subresource, body, patch_type, query)

    async def watch(self, group: str, version: str, resource: str, namespace: str | None,
                    resource_version: str, label_selector: str | None,
                    field_selector: str | None, timeout: float, allow_bookmarks: bool) -> dict:
        return await self._call("watch", True, group, version, resource, namespace,
                                resource_version, label_selector, field_selector, timeout,
                                allow_bookmarks)
