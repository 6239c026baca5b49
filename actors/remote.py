"""Calling an actor as if it were the object it hosts: every attribute is an
async method that awaits the actor's method of that name (typed errors the
actor raises arrive as themselves, Ray making them instances of their
class). The kubelet talks to its CRI actor this way, the cloud controllers
to the cloud."""
from __future__ import annotations

from typing import Any, Callable


class RemoteProxy:
    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self._handle, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await method.remote(*args, **kwargs)
        call.__name__ = name
        return call
