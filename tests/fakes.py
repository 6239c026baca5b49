"""Stand-ins tests share while the real components do not exist yet."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from kubeapi.models.base import format_time


async def mark_ready(client: Any, pod: dict) -> bool:
    """Play kubelet for ``pod``: phase Running with a Ready condition (False if
    it changed or went away meanwhile — the next event about it retries)."""
    pod = dict(pod, status={"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": format_time(time.time())}]})
    try:
        await client.update_status(pod)
    except Exception:  # noqa: BLE001 - conflict or gone
        return False
    return True


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def track_live(live: dict[str, dict], ev: dict) -> None:
    """Apply a pod watch event to ``live`` (name -> pod, pods not being deleted)."""
    pod = ev["object"]
    name = pod["metadata"]["name"]
    if ev["type"] == "DELETED" or pod["metadata"].get("deletionTimestamp"):
        live.pop(name, None)
    else:
        live[name] = pod


async def finish_deletion(client: Any, pod: dict) -> None:
    """Play kubelet for a pod being deleted on its node: the final delete (grace 0)."""
    meta = pod["metadata"]
    if not meta.get("deletionTimestamp") or not (pod.get("spec") or {}).get("nodeName"):
        return
    try:
        await client.delete("pods", meta["name"], meta.get("namespace"), grace_period_seconds=0,
                            preconditions={"uid": meta.get("uid")})
    except Exception:  # noqa: BLE001 - gone already
        pass


async def eventually(pred: Any, what: str, tries: int = 500, every: float = 0.02) -> Any:
    """Poll the coroutine function ``pred`` until it is true (returning what it
    answered); fail naming ``what``."""
    for _ in range(tries):
        got = await pred()
        if got:
            return got
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
