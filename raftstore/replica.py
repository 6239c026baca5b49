"""One raftstore member's core: a Raft node, its durable storage and its MVCC
state machine, wired through the Ready loop — but no network and no clock.

The host (the simulator, or the member actor) drives it:

    rd = replica.ready()            # None when there is nothing to do
    replica.persist(rd)             # durable (fsync) before anything is sent
    send(rd.messages)
    for c in replica.apply(rd):     # apply, answer reads, advance, snapshot
        answer(c.token, c.result, c.leader)

Requests carry a host-chosen ``token``; every request ends in exactly one
:class:`Completion` unless the replica dies first (the client's timeout then
covers it, and the (client, sequence) in each write makes a retry safe).
"""
from __future__ import annotations

from bisect import insort
from dataclasses import dataclass
from typing import Any, Protocol

from .mvcc import MVCCStore, encode_entry
from .raft import Config, ProposalDropped, RaftNode, Ready
from .raftpb import NONE, Entry, EntryType, HardState, Snapshot
from .wal import batch_problem


class Storage(Protocol):
    """Durable Raft state; :class:`raftstore.wal.WAL` is the real one."""

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool = True) -> None: ...
    def save_snapshot(self, snap: Snapshot) -> None: ...
    def release_to(self, index: int) -> None: ...
    def load(self) -> tuple[HardState, Snapshot | None, list[Entry]]: ...


class MemoryStorage:
    """Storage in memory, with the WAL's semantics: later entries overwrite
    from their index on; an installed snapshot from another history replaces
    the log. What it holds is what "survived the fsync" in a simulation."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []

    def _base(self) -> int:
        return self.snapshot.meta.index if self.snapshot else 0

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool = True) -> None:
        base = self._base()
        if entries:
            first = entries[0].index
            problem = batch_problem(entries, base + len(self.entries))
            if problem:
                raise ValueError(problem)
            if first <= base:
                entries = entries[base - first + 1:]
                first = base + 1
            del self.entries[first - base - 1:]
            self.entries.extend(entries)
        if hard_state is not None:
            self.hard_state = hard_state

    def save_snapshot(self, snap: Snapshot) -> None:
        base = self._base()
        idx = snap.meta.index
        if idx <= base:
            return
        off = idx - base - 1
        if off < len(self.entries) and self.entries[off].term == snap.meta.term:
            self.entries = self.entries[off + 1:]
        else:
            self.entries = []
        self.snapshot = snap

    def release_to(self, index: int) -> None:
        """Nothing to release: save_snapshot already dropped covered entries."""

    def load(self) -> tuple[HardState, Snapshot | None, list[Entry]]:
        return self.hard_state, self.snapshot, list(self.entries)


@dataclass(slots=True)
class Completion:
    """The answer to one request: ``result`` is the store's response dict, or
    None when the request must go elsewhere (``leader`` is a hint, 0 if none)."""
    token: Any
    result: dict | None
    leader: int = NONE


class Replica:
    def __init__(self, cfg: Config, storage: Storage, *, snapshot_every: int = 10_000) -> None:
        hs, snap, entries = storage.load()
        self.storage = storage
        self.raft = RaftNode(cfg, hs, snap, entries)
        self.store = MVCCStore.restore(snap.data) if snap else MVCCStore()
        self.snapshot_every = snapshot_every
        self._since_snapshot = 0
        self._writes: dict[int, list[tuple[int, Any]]] = {}    # index -> [(term, token)]
        self._reads: dict[bytes, tuple[dict, Any]] = {}          # ctx -> (request, token)
        self._waiting: list[tuple[int, bytes]] = []              # (read index, ctx), sorted
        self._read_seq = 0

    @property
    def id(self) -> int:
        return self.raft.id

    @property
    def is_leader(self) -> bool:
        return self.raft.is_leader

    @property
    def leader(self) -> int:
        return self.raft.lead

    # ---- requests ------------------------------------------------------------
    def propose(self, req: dict, client: str | None, seq: int, token: Any) -> Completion | None:
        """Propose a write; None means pending (answered by a later apply)."""
        try:
            term, index = self.raft.propose(encode_entry(req, client, seq))
        except ProposalDropped as e:
            return Completion(token, None, e.leader)
        self._writes.setdefault(index, []).append((term, token))
        return None

    def read(self, req: dict, token: Any) -> None:
        """A linearizable read: served once the ReadIndex is applied here."""
        self._read_seq += 1
        ctx = b"%d:%d" % (self.raft.id, self._read_seq)
        self._reads[ctx] = (req, token)
        self.raft.read_index(ctx)

    # ---- the Ready loop ------------------------------------------------------
    def ready(self) -> Ready | None:
        return self.raft.ready() if self.raft.has_ready() else None

    def persist(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.storage.save_snapshot(rd.snapshot)
        if rd.hard_state is not None or rd.entries:
            self.storage.save(rd.hard_state, rd.entries, rd.must_sync())

    def apply(self, rd: Ready) -> list[Completion]:
        """Call after ``persist`` and after sending ``rd.messages``."""
        done: list[Completion] = []
        if rd.snapshot is not None:
            self.store = MVCCStore.restore(rd.snapshot.data)
        for e in rd.committed_entries:
            self._apply_entry(e, done)
        for rs in rd.read_states:
            if rs.context in self._reads:
                insort(self._waiting, (rs.index, rs.context))
        for ctx in rd.dropped_reads:
            r = self._reads.pop(ctx, None)
            if r is not None:
                done.append(Completion(r[1], None, self.raft.lead))
        self._serve_reads(done)
        self.raft.advance()
        self._maybe_snapshot()
        return done

    def _apply_entry(self, e: Entry, done: list[Completion]) -> None:
        if e.type == EntryType.NORMAL and e.data:
            res = self.store.apply(e.index, e.data)
            self._since_snapshot += 1
        else:
            res = self.store.apply(e.index, b"")
        for term, token in self._writes.pop(e.index, ()):
            # another leader's entry took this index: ours was lost, retry
            done.append(Completion(token, res if term == e.term else None, self.raft.lead))

    def _serve_reads(self, done: list[Completion]) -> None:
        applied = self.store.applied_index
        n = 0
        for idx, ctx in self._waiting:
            if idx > applied:
                break
            n += 1
            r = self._reads.pop(ctx, None)
            if r is not None:
                done.append(Completion(r[1], self.store.execute(r[0])))
        if n:
            del self._waiting[:n]

    def _maybe_snapshot(self) -> None:
        if self._since_snapshot < self.snapshot_every:
            return
        idx = self.store.applied_index
        if idx <= self.raft.log.snap_index:
            return
        self._since_snapshot = 0
        snap = self.raft.create_snapshot(idx, self.store.snapshot())
        self.storage.save_snapshot(snap)
        self.storage.release_to(idx)
