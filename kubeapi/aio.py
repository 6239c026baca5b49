"""asyncio helpers the components share."""
from __future__ import annotations

import asyncio
from typing import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task], retry: float = 0.5) -> None:
    """Cancel ``tasks`` and wait until every one has finished.

    On Python 3.11 ``asyncio.wait_for`` can swallow a cancellation that races
    with its inner future completing, leaving a task running on after being
    cancelled once; so tasks still running after ``retry`` seconds are
    cancelled again."""
    pending = {t for t in tasks if not t.done()}
    for t in pending:
        t.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=retry)
        for t in pending:
            t.cancel()
