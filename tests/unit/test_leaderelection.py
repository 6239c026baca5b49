"""LeaderElector against an in-memory Lease store on virtual time."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from kubeapi.errors import conflict, internal, not_found
from kubeapi.leaderelection import (
    LeaderElectionConfig,
    LeaderElector,
    format_micro_time,
    parse_micro_time,
)
try:
    from .virtual_time import VirtualTime, run
except ImportError:  # collected without the package __init__
    from virtual_time import VirtualTime, run

T0 = 1_700_000_000.0


class LeaseStore:
    """Leases with compare-and-swap on resourceVersion, shared by several clients."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict] = {}
        self.rv = 0
        self.writes: list[dict] = []

    def client(self) -> FakeLeaseClient:
        return FakeLeaseClient(self)


class FakeLeaseClient:
    def __init__(self, store: LeaseStore) -> None:
        self.store = store
        self.partitioned = False
        self.gets = 0

    def _check(self) -> None:
        if self.partitioned:
            raise internal("connection refused")

    async def get(self, namespace: str, name: str) -> dict:
        self._check()
        self.gets += 1
        lease = self.store.leases.get((namespace, name))
        if lease is None:
            raise not_found("leases", name, "coordination.k8s.io")
        return copy.deepcopy(lease)

    async def create(self, lease: dict) -> dict:
        self._check()
        key = (lease["metadata"]["namespace"], lease["metadata"]["name"])
        if key in self.store.leases:
            raise conflict("leases", key[1])
        return self._store(key, lease)

    async def update(self, lease: dict) -> dict:
        self._check()
        key = (lease["metadata"]["namespace"], lease["metadata"]["name"])
        cur = self.store.leases.get(key)
        if cur is None:
            raise not_found("leases", key[1], "coordination.k8s.io")
        if cur["metadata"]["resourceVersion"] != lease["metadata"].get("resourceVersion"):
            raise conflict("leases", key[1])
        return self._store(key, lease)

    def _store(self, key: tuple[str, str], lease: dict) -> dict:
        self.store.rv += 1
        lease = copy.deepcopy(lease)
        lease["metadata"]["resourceVersion"] = str(self.store.rv)
        self.store.leases[key] = lease
        self.store.writes.append(copy.deepcopy(lease))
        return copy.deepcopy(lease)


class Candidate:
    """One elector plus a record of its callbacks."""

    def __init__(self, ident: str, store: LeaseStore, vt: VirtualTime, **cfg: Any) -> None:
        self.ident = ident
        self.client = store.client()
        self.started_at: list[float] = []
        self.stopped_at: list[float] = []
        self.new_leaders: list[str] = []
        self.leading_event: asyncio.Event | None = None
        self.vt = vt
        config = LeaderElectionConfig(
            lock_name="ctrl", lock_namespace="kube-system", identity=ident,
            on_started_leading=self._started, on_stopped_leading=self._stopped,
            on_new_leader=self.new_leaders.append, **cfg)
        self.elector = LeaderElector(config, self.client, clock=vt.clock, sleep=vt.sleep, rand=lambda: 0.0)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _started(self, leading: asyncio.Event) -> None:
        self.started_at.append(self.vt.clock())
        self.leading_event = leading
        await leading.wait()

    def _stopped(self) -> None:
        self.stopped_at.append(self.vt.clock())

    @property
    def leading(self) -> bool:
        return len(self.started_at) > len(self.stopped_at)

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run(self.stop))


def spec(store: LeaseStore) -> dict:
    return store.leases[("kube-system", "ctrl")]["spec"]


def test_acquires_free_lease() -> None:
    async def main() -> None:
        vt, store = VirtualTime(T0), LeaseStore()
        a = Candidate("a", store, vt)
        a.start()
        await vt.advance(0)
        assert a.started_at == [T0] and a.elector.is_leader()
        s = spec(store)
        assert s["holderIdentity"] == "a" and s["leaseDurationSeconds"] == 15
        assert s["acquireTime"] == s["renewTime"] == format_micro_time(T0) == "2023-11-14T22:13:20.000000Z"
        assert s["leaseTransitions"] == 0
        assert a.new_leaders == ["a"]
        a.stop.set()
        await a.task
        assert a.stopped_at == [T0] and a.leading_event is not None and a.leading_event.is_set()

    run(main())


def test_does_not_take_held_lease_until_it_expires() -> None:
    async def main() -> None:
        vt, store = VirtualTime(T0), LeaseStore()
        other = store.client()
        await other.create({"metadata": {"name": "ctrl", "namespace": "kube-system"},
                            "spec": {"holderIdentity": "old", "leaseDurationSeconds": 15,
                                     "acquireTime": format_micro_time(T0 - 100),
                                     "renewTime": format_micro_time(T0), "leaseTransitions": 3}})
        a = Candidate("a", store, vt)
        a.start()
        await vt.advance(14)
        assert not a.started_at and a.client.gets >= 7  # kept retrying every ~2 s
        assert a.new_leaders == ["old"]
        await vt.advance(4)  # renewTime + 15 s has passed
        assert len(a.started_at) == 1 and T0 + 15 < a.started_at[0] <= T0 + 17
        s = spec(store)
        assert s["holderIdentity"] == "a" and s["leaseTransitions"] == 4
        assert s["acquireTime"] == format_micro_time(a.started_at[0])
        assert a.new_leaders == ["old", "a"]
        a.stop.set()
        await a.task

    run(main())


def test_leader_renews_keeping_acquire_time_and_transitions() -> None:
    async def main() -> None:
        vt, store = VirtualTime(T0), LeaseStore()
        a = Candidate("a", store, vt)
        a.start()
        await vt.advance(0)
        await vt.advance(7)
        s = spec(store)
        assert s["renewTime"] == format_micro_time(T0 + 6)  # renewed every retry_period
        assert s["acquireTime"] == format_micro_time(T0) and s["leaseTransitions"] == 0
        assert len(store.writes) == 5  # create, an immediate renewal, then renewals at 2, 4, 6
        assert a.leading
        a.stop.set()
        await a.task

    run(main())


def test_leader_steps_down_when_renewals_fail_past_deadline() -> None:
    async def main() -> None:
        vt, store = VirtualTime(T0), LeaseStore()
        a = Candidate("a", store, vt)
        a.start()
        await vt.advance(2)  # renewed at T0+2
        a.client.partitioned = True
        await vt.advance(9.5)  # the renewal round started at T0+4 has until T0+14
        assert a.leading and a.leading_event is not None and not a.leading_event.is_set()
        await vt.advance(3)
        assert a.stopped_at == [T0 + 14]
        assert a.leading_event.is_set() and a.task is not None and a.task.done()
        # It gave up before anyone else could consider the lease expired.
        assert parse_micro_time(spec(store)["renewTime"]) + 15 > a.stopped_at[0]

    run(main())


def test_two_candidates_never_lead_at_once() -> None:
    async def main() -> None:
        vt, store = VirtualTime(T0), LeaseStore()
        a, b = Candidate("a", store, vt), Candidate("b", store, vt)
        a.start()
        await vt.advance(0.5)
        b.start()

        def at_most_one() -> None:
            assert not (a.leading and b.leading)

        await vt.advance(20, at_most_one)
        assert a.leading and not b.started_at
        a.client.partitioned = True
        await vt.advance(40, at_most_one)
        assert a.stopped_at and len(b.started_at) == 1 and b.leading
        assert a.stopped_at[0] < b.started_at[0]
        s = spec(store)
        assert s["holderIdentity"] == "b" and s["leaseTransitions"] == 1
        # The old leader comes back and must not take the lease from the new one.
        a.client.partitioned = False
        a.stop = asyncio.Event()
        a.start()
        await vt.advance(30, at_most_one)
        assert b.leading and len(a.started_at) == 1
        a.stop.set()
        b.stop.set()
        await asyncio.gather(a.task, b.task)  # type: ignore[arg-type]

    run(main())


def test_release_on_cancel_hands_lease_over() -> None:
    async def main() -> None:
        vt, store = VirtualTime(T0), LeaseStore()
        a = Candidate("a", store, vt, release_on_cancel=True)
        b = Candidate("b", store, vt)
        a.start()
        await vt.advance(0.5)
        b.start()
        await vt.advance(5)
        a.stop.set()
        await a.task  # type: ignore[misc]
        s = spec(store)
        assert s["holderIdentity"] == "" and s["leaseDurationSeconds"] == 1
        assert s["leaseTransitions"] == 0 and a.stopped_at
        t_release = vt.clock()
        await vt.advance(2.5)  # b's next retry sees a free lease, no 15 s wait
        assert len(b.started_at) == 1 and b.started_at[0] - t_release <= 2.5
        assert spec(store)["holderIdentity"] == "b" and spec(store)["leaseTransitions"] == 1
        b.stop.set()
        await b.task  # type: ignore[misc]
        assert spec(store)["holderIdentity"] == "b"  # b did not ask to release

    run(main())


def _cfg(**kw: Any) -> LeaderElectionConfig:
    base: dict[str, Any] = dict(lock_name="l", lock_namespace="ns", identity="me",
                                on_started_leading=lambda e: None, on_stopped_leading=lambda: None)
    base.update(kw)
    return LeaderElectionConfig(**base)


@pytest.mark.parametrize("kw, message", [
    (dict(lease_duration=10, renew_deadline=10), "leaseDuration must be greater than renewDeadline"),
    (dict(renew_deadline=2.4, retry_period=2), "renewDeadline must be greater than retryPeriod\\*JitterFactor"),
    (dict(retry_period=0, renew_deadline=1, lease_duration=2), "retryPeriod must be greater than zero"),
    (dict(identity=""), "Lock identity is empty"),
    (dict(on_started_leading=None), "OnStartedLeading callback must not be nil"),
    (dict(on_stopped_leading=None), "OnStoppedLeading callback must not be nil"),
])
def test_config_validation(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _cfg(**kw)


def test_config_defaults_are_valid_and_micro_time_round_trips() -> None:
    cfg = _cfg()
    assert (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period) == (15, 10, 2)
    assert _cfg(renew_deadline=2.5, retry_period=2).renew_deadline == 2.5
    assert format_micro_time(0.5) == "1970-01-01T00:00:00.500000Z"
    assert parse_micro_time("2023-11-14T22:13:20.123456Z") == pytest.approx(T0 + 0.123456)
    assert parse_micro_time("2023-11-14T22:13:20Z") == T0
    with pytest.raises(ValueError):
        parse_micro_time("yesterday")
