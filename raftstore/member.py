"""A raftstore member: one Raft replica as an async Ray actor.

The actor is a thin shell around :class:`raftstore.replica.Replica`: a tick
loop, a Ready loop that fsyncs the WAL in a thread (group commit: everything
proposed while an fsync runs goes into the next one) and then ships the
Ready's messages as one one-way Ray call per peer, and the request methods
that clients and peers call.

Restarted by Ray (``max_restarts``), ``__init__`` runs again and recovers
term, vote, log and state from the member's data directory. A member whose
directory is gone after a restart (its machine was lost) refuses to start: it
must not rejoin under its old id, which could make it vote twice in a term.
It can be removed and a new member added in its place.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import ray

from .mvcc import CompactedError, LeaseNotFoundError, Lessor
from .raft import Config, ProposalDropped
from .raftpb import NONE, ConfChange, ConfChangeType, Message
from .replica import Completion, Replica
from .wal import WAL

log = logging.getLogger("raykube.raftstore.member")

NAMESPACE = "raykube"
PEER_LOOKUP_S = 5.0
WRITE_OPS = frozenset({"put", "delete_range", "txn", "compact", "lease_grant", "lease_revoke"})


class MemberDataLost(RuntimeError):
    """A restarted member found no data directory: it must be replaced."""


def member_name(cluster: str, member_id: int) -> str:
    return f"etcd-{cluster}-{member_id}"


def find_members(cluster: str) -> dict[int, Any]:
    """The running members of ``cluster`` by id, each name looked up afresh
    (a member started anew under its old name is a new actor). Names of
    other clusters that merely share the prefix (``a`` vs ``a-b``) are skipped."""
    prefix = member_name(cluster, 0)[:-1]
    found: dict[int, Any] = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        rest = entry["name"][len(prefix):]
        if entry["namespace"] == NAMESPACE and entry["name"].startswith(prefix) and rest.isdigit():
            try:
                found[int(rest)] = ray.get_actor(entry["name"], namespace=NAMESPACE)
            except ValueError:  # gone between the listing and the lookup
                continue
    return found


@dataclass
class MemberConfig:
    cluster: str
    id: int
    data_dir: str                        # this member's own directory
    peers: tuple[int, ...] = ()          # founding members; () when joining
    tick_ms: float = 100.0
    election_tick: int = 10
    heartbeat_tick: int = 1
    snapshot_every: int = 10_000
    segment_bytes: int = 64 << 20
    max_msg_bytes: int = 1 << 20
    extra: dict[str, Any] = field(default_factory=dict)


def _is_read_only(req: dict) -> bool:
    op = req.get("op")
    if op == "range":
        return True
    if op == "txn":
        return all(_is_read_only(o) for o in (req.get("success") or []) + (req.get("failure") or []))
    return False


class Member:
    """The actor class; create it with :func:`member_actor_class`."""

    def __init__(self, cfg: MemberConfig) -> None:
        self.cfg = cfg
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        if restarted and not os.path.isdir(cfg.data_dir):
            raise MemberDataLost(
                f"member {cfg.id} of {cfg.cluster!r}: data directory {cfg.data_dir} is gone; "
                f"remove member {cfg.id} and add a new member in its place")
        self.wal = WAL.open(cfg.data_dir, f"{cfg.cluster}/{cfg.id}".encode(),
                            segment_bytes=cfg.segment_bytes)
        peers = cfg.peers
        if self.wal.recovered.hard_state.term or self.wal.recovered.entries or self.wal.recovered.snapshot:
            peers = ()  # restarting from our own state
        raft_cfg = Config(cfg.id, peers=peers, election_tick=cfg.election_tick,
                          heartbeat_tick=cfg.heartbeat_tick, max_msg_bytes=cfg.max_msg_bytes,
                          seed=int.from_bytes(os.urandom(4), "little"))
        self.replica = Replica(raft_cfg, self.wal, snapshot_every=cfg.snapshot_every)
        self.lessor = Lessor(self.replica.store, retry_interval=1.0)
        self._peers: dict[int, tuple[Any, float]] = {}   # id -> (handle, looked up at)
        self._waiters: dict[int, asyncio.Future] = {}
        self._next_token = 0
        self._wake = asyncio.Event()
        self._applied = asyncio.Condition()
        self._was_leader = False
        self._started = time.monotonic()
        # where the time goes: counters reported by status()
        self.metrics = {"readies": 0, "fsyncs": 0, "fsync_s": 0.0, "apply_s": 0.0,
                        "sends": 0, "messages": 0, "send_s": 0.0, "delivered": 0,
                        "proposals": 0, "propose_to_commit_s": 0.0}
        self._proposed_at: dict[int, float] = {}
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick_loop()), loop.create_task(self._ready_loop())]
        log.info("member %s/%d started (restarted=%s, term=%d, last index=%d)", cfg.cluster, cfg.id,
                 restarted, self.replica.raft.term, self.replica.raft.log.last_index())

    # ================================================================ peers
    async def deliver(self, batch: list) -> None:
        """One-way: Raft messages from a peer (one call carries many)."""
        raft = self.replica.raft
        for w in batch:
            raft.step(Message.from_wire(w))
        self.metrics["delivered"] += len(batch)
        self._wake.set()

    def _peer(self, mid: int) -> Any | None:
        """The peer's handle, looked up again every few seconds: a member
        started anew under the same name (not restarted by Ray) is a new actor,
        and one-way sends to the old handle would vanish without a trace."""
        now = time.monotonic()
        entry = self._peers.get(mid)
        if entry is None or now - entry[1] > PEER_LOOKUP_S:
            try:
                h = ray.get_actor(member_name(self.cfg.cluster, mid), namespace=NAMESPACE)
            except ValueError:
                self._peers.pop(mid, None)
                return None
            entry = self._peers[mid] = (h, now)
        return entry[0]

    def _send(self, msgs: list[Message]) -> None:
        by_dest: dict[int, list] = {}
        for m in msgs:
            by_dest.setdefault(m.to, []).append(m.to_wire())
        self.metrics["sends"] += len(by_dest)
        self.metrics["messages"] += len(msgs)
        for to, batch in by_dest.items():
            h = self._peer(to)
            if h is None:
                self.replica.raft.report_unreachable(to)
                continue
            h.deliver.remote(batch)  # fire and forget: Raft retries what is lost

    # ================================================================ loops
    async def _tick_loop(self) -> None:
        period = self.cfg.tick_ms / 1000.0
        while True:
            await asyncio.sleep(period)
            try:
                self.replica.raft.tick()
                self._leases_tick()
            except Exception:
                self._die("tick")
            self._wake.set()

    async def _ready_loop(self) -> None:
        rep = self.replica
        while True:
            await self._wake.wait()
            self._wake.clear()
            m = self.metrics
            try:
                while (rd := rep.ready()) is not None:
                    m["readies"] += 1
                    if rd.send_before_persist:
                        self._send(rd.messages)  # replicate while our own fsync runs
                    if rd.must_sync():
                        t0 = time.perf_counter()
                        await asyncio.to_thread(rep.persist, rd)  # fsync off the event loop
                        m["fsyncs"] += 1
                        m["fsync_s"] += time.perf_counter() - t0
                    elif rd.hard_state is not None:
                        rep.persist(rd)  # a commit index only: no fsync
                    t0 = time.perf_counter()
                    if not rd.send_before_persist:
                        self._send(rd.messages)
                    t1 = time.perf_counter()
                    m["send_s"] += t1 - t0
                    done = rep.apply(rd)
                    m["apply_s"] += time.perf_counter() - t1
                    if self._proposed_at and rd.committed_entries:
                        for e in rd.committed_entries:
                            at = self._proposed_at.pop(e.index, None)
                            if at is not None:
                                m["propose_to_commit_s"] += t1 - at
                    for c in done:
                        fut = self._waiters.pop(c.token, None)
                        if fut is not None and not fut.done():
                            fut.set_result(c)
                    if rd.committed_entries or rd.snapshot is not None:
                        if self.lessor.store is not rep.store:
                            self.lessor.store = rep.store
                        async with self._applied:
                            self._applied.notify_all()
                    self._track_leadership()
            except Exception:
                self._die("ready")

    def _die(self, where: str) -> None:
        """A storage or invariant failure: crash so Ray restarts us from the WAL."""
        log.exception("member %s/%d: fatal error in %s loop; restarting", self.cfg.cluster, self.cfg.id, where)
        os._exit(1)

    def _track_leadership(self) -> None:
        leader = self.replica.is_leader
        if leader and not self._was_leader:
            self.lessor.promote(time.monotonic())
        elif not leader and self._was_leader:
            self.lessor.demote()
        self._was_leader = leader

    def _leases_tick(self) -> None:
        if not self.replica.is_leader or not self.lessor.is_primary:
            return
        for lid in self.lessor.expired(time.monotonic()):
            try:
                self.replica.propose({"op": "lease_revoke", "id": lid}, None, 0, None)
            except ProposalDropped:
                return

    # ============================================================= requests
    def _token(self) -> tuple[int, asyncio.Future]:
        self._next_token += 1
        fut = asyncio.get_running_loop().create_future()
        self._waiters[self._next_token] = fut
        return self._next_token, fut

    async def _wait(self, token: int, fut: asyncio.Future, timeout: float) -> Completion | None:
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self._waiters.pop(token, None)
            return None

    async def request(self, req: dict, client: str | None = None, seq: int = 0,
                      serializable: bool = False, timeout: float = 5.0) -> dict:
        """Run one store request. Answers ``{"result": ...}``, ``{"redirect":
        leader id (0 unknown)}`` or ``{"error": {"code": "timeout"}}`` (the
        outcome of a write is then unknown: retry it with the same seq)."""
        if type(req) is not dict or "op" not in req:
            return {"error": {"code": "bad_request", "message": "request must be a map with an op"}}
        rep = self.replica
        if _is_read_only(req):
            if serializable:
                return {"result": rep.store.execute(req)}
            token, fut = self._token()
            rep.read(req, token)
        else:
            if req["op"] not in WRITE_OPS:
                return {"error": {"code": "bad_request", "message": f"unknown op {req['op']!r}"}}
            if not rep.is_leader:
                return {"redirect": rep.leader}
            token, fut = self._token()
            c = rep.propose(req, client, seq, token)
            if c is not None:
                self._waiters.pop(token, None)
                return {"redirect": c.leader}
            self.metrics["proposals"] += 1
            self._proposed_at[rep.raft.log.last_index()] = time.perf_counter()
        self._wake.set()
        c = await self._wait(token, fut, timeout)
        if c is None:
            return {"error": {"code": "timeout", "message": f"no answer within {timeout}s"}}
        if c.result is None:
            return {"redirect": c.leader}
        return {"result": c.result}

    async def request_batch(self, reqs: list, timeout: float = 5.0) -> list[dict]:
        """Many requests in one call (each ``[req, client, seq, serializable]``):
        all of them are proposed before the Ready loop runs, so they share one
        fsync and one append per follower. Answers in order, as ``request``."""
        return await asyncio.gather(*(self.request(r[0], r[1], r[2], r[3], timeout) for r in reqs))

    async def watch(self, key: bytes, range_end: bytes | None, start_revision: int,
                    timeout: float = 5.0, max_revisions: int = 1000) -> dict:
        """Long poll: events from ``start_revision`` on (at least one revision
        if any arrives within ``timeout``), and the revision to ask from next."""
        deadline = time.monotonic() + timeout
        while True:
            store = self.replica.store
            try:
                events, nxt = store.watch_events(key, range_end, start_revision, max_revisions)
            except CompactedError as e:
                return {"error": {"code": "compacted", "compact_revision": e.compact_revision}}
            left = deadline - time.monotonic()
            if events or left <= 0:
                return {"events": events, "next": nxt, "revision": store.revision}
            start_revision = nxt  # nothing up to here: the next wake scans only what is new
            async with self._applied:
                try:
                    await asyncio.wait_for(self._applied.wait(), left)
                except asyncio.TimeoutError:
                    pass

    async def lease_keepalive(self, lease_id: int) -> dict:
        if not self.replica.is_leader or not self.lessor.is_primary:
            return {"redirect": self.replica.leader}
        try:
            return {"result": {"id": lease_id, "ttl": self.lessor.renew(lease_id, time.monotonic())}}
        except LeaseNotFoundError:
            return {"error": {"code": "lease_not_found", "message": f"lease {lease_id} not found"}}

    async def conf_change(self, kind: str, node_id: int, timeout: float = 10.0) -> dict:
        """Leader only: add (voter or learner), promote or remove a member and
        wait until the change is committed and applied here."""
        types = {"add": ConfChangeType.ADD_NODE, "add_learner": ConfChangeType.ADD_LEARNER,
                 "promote": ConfChangeType.ADD_NODE, "remove": ConfChangeType.REMOVE_NODE}
        if kind not in types:
            return {"error": {"code": "bad_request", "message": f"unknown change {kind!r}"}}
        raft = self.replica.raft
        if not raft.is_leader:
            return {"redirect": raft.lead}
        try:
            _, index = raft.propose_conf_change(ConfChange(types[kind], node_id))
        except ProposalDropped as e:
            return {"error": {"code": "unavailable", "message": str(e)}}
        self._wake.set()
        deadline = time.monotonic() + timeout
        while self.replica.store.applied_index < index:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"error": {"code": "timeout", "message": "configuration change not applied in time"}}
            async with self._applied:
                try:
                    await asyncio.wait_for(self._applied.wait(), left)
                except asyncio.TimeoutError:
                    pass
        return {"result": {"voters": sorted(raft.voters), "learners": sorted(raft.learners)}}

    async def transfer_leadership(self, to: int) -> dict:
        raft = self.replica.raft
        if not raft.is_leader:
            return {"redirect": raft.lead}
        raft.transfer_leadership(to)
        self._wake.set()
        return {"result": {"transferee": to}}

    async def snapshot_now(self) -> dict:
        """Snapshot the state machine and release the WAL behind it."""
        rep = self.replica
        idx = rep.store.applied_index
        if idx > rep.raft.log.snap_index:
            snap = rep.raft.create_snapshot(idx, rep.store.snapshot())
            await asyncio.to_thread(self._save_snapshot, snap)
        return {"result": {"index": rep.raft.log.snap_index}}

    def _save_snapshot(self, snap: Any) -> None:
        self.wal.save_snapshot(snap)
        self.wal.release_to(snap.meta.index)

    async def status(self) -> dict:
        rep = self.replica
        raft = rep.raft
        return {
            "id": self.cfg.id, "cluster": self.cfg.cluster, "leader": raft.lead,
            "state": raft.state.name, "term": raft.term, "commit": raft.log.committed,
            "applied": rep.store.applied_index, "last_index": raft.log.last_index(),
            "snapshot_index": raft.log.snap_index, "revision": rep.store.revision,
            "compact_revision": rep.store.compact_revision,
            "voters": sorted(raft.voters), "learners": sorted(raft.learners),
            "wal_bytes": _dir_size(self.cfg.data_dir), "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "uptime_s": round(time.monotonic() - self._started, 3),
            "metrics": dict(self.metrics),
        }

    async def shutdown(self, remove_data: bool = False) -> None:
        """Stop for good (the caller kills the actor next)."""
        for t in self._tasks:
            t.cancel()
        self.wal.close()
        if remove_data:
            shutil.rmtree(self.cfg.data_dir, ignore_errors=True)


def _dir_size(path: str) -> int:
    total = 0
    try:
        for name in os.listdir(path):
            try:
                total += os.path.getsize(os.path.join(path, name))
            except OSError:
                pass
    except OSError:
        pass
    return total


def member_actor_class(max_restarts: int = -1) -> Any:
    """The Ray actor class for members: restarted on failure, calls never retried
    (a retried write could apply twice were it not for (client, seq); a retried
    read is the client's business)."""
    return ray.remote(num_cpus=0, max_restarts=max_restarts, max_task_retries=0,
                      max_concurrency=1000)(Member)


__all__ = ["Member", "MemberConfig", "MemberDataLost", "NAMESPACE", "member_actor_class",
           "member_name", "NONE"]
