"""Leader election for replicated control-plane actors (the scheduler, the
controller managers): campaign for a Lease for as long as the actor lives,
run ``lead`` while holding it, and campaign again after losing it."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from kubeapi.client import Client
from kubeapi.leaderelection import LeaderElectionConfig, LeaderElector

log = logging.getLogger("raykube.election")


@dataclass
class Timing:
    """Upstream's defaults: a lease of 15 s renewed within 10 s, retried every 2 s."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass
class Campaign:
    """Who campaigns for which Lease, and what it does while leading."""

    client: Client
    namespace: str
    name: str
    identity: str
    lead: Callable[[asyncio.Event], Awaitable[None]]  # runs until the event (lost) is set
    timing: Timing
    leader: str = ""  # the current holder, as last seen
    leading: bool = False
    terms: int = 0

    async def run_forever(self) -> None:
        t = self.timing
        while True:
            elector = LeaderElector(LeaderElectionConfig(
                self.name, self.namespace, self.identity, on_started_leading=self._lead,
                on_stopped_leading=self._stopped, on_new_leader=self._new_leader,
                lease_duration=t.lease_duration, renew_deadline=t.renew_deadline,
                retry_period=t.retry_period), self.client.leases())
            try:
                await elector.run()
            except Exception:  # noqa: BLE001 - campaign again
                log.exception("%s: leader election for %s/%s failed", self.identity, self.namespace, self.name)
                await asyncio.sleep(t.retry_period)

    async def _lead(self, lost: asyncio.Event) -> None:
        self.leading = True
        self.terms += 1
        await self.lead(lost)

    def _stopped(self) -> None:
        self.leading = False

    def _new_leader(self, identity: str) -> None:
        self.leader = identity
