"""An in-memory cluster of RaftNodes for the Raft unit tests.

The network delivers messages in FIFO order, each one copied through its wire
form as a real transport would. Links can be cut (one way or both), nodes
isolated or crashed and restarted from what they persisted, and messages
dropped or held back by predicate. The network runs every node's
Ready/advance loop: it keeps, per node, a Storage (what would be on disk:
hard state, snapshot, entries) and a state machine (the applied entries), and
checks safety invariants as it goes: at most one leader per term, entries
applied in order and only once persisted by an earlier Ready, and no two nodes ever applying
different entries at the same index.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

import msgpack

from raftstore.raft import Config, RaftNode, Ready
from raftstore.raftpb import (
    NONE, Entry, EntryType, HardState, Message, MsgType, ReadState, Snapshot,
)

# requests that followers forward to the leader (they travel with term 0)
FORWARDED = (MsgType.READ_INDEX, MsgType.READ_INDEX_RESP, MsgType.TRANSFER_LEADER)
# messages a node only ever steps into itself
LOCAL_ONLY = (MsgType.HUP, MsgType.BEAT, MsgType.PROP, MsgType.SNAP_STATUS, MsgType.UNREACHABLE)

# an applied entry as the state machine saw it: (index, term, type, data)
Record = tuple[int, int, int, bytes]


def copy_entry(e: Entry) -> Entry:
    return Entry(e.term, e.index, e.type, e.data)


def encode_records(records: Iterable[Record]) -> bytes:
    return msgpack.packb([list(r) for r in records])


def decode_records(data: bytes) -> list[Record]:
    return [tuple(r) for r in msgpack.unpackb(data)] if data else []


@dataclass
class Storage:
    """What one node has made durable."""
    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)

    def snap_index(self) -> int:
        return self.snapshot.meta.index if self.snapshot else 0

    def last_index(self) -> int:
        return self.snap_index() + len(self.entries)

    def term(self, index: int) -> int | None:
        off = index - self.snap_index() - 1
        if 0 <= off < len(self.entries):
            return self.entries[off].term
        if index == self.snap_index():
            return self.snapshot.meta.term if self.snapshot else 0
        return None

    def save(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = []
        if rd.entries:
            first = rd.entries[0].index
            assert self.snap_index() < first <= self.last_index() + 1, (
                f"Ready entries start at {first}, storage holds "
                f"{self.snap_index() + 1}..{self.last_index()}")
            for a, b in zip(rd.entries, rd.entries[1:]):
                assert b.index == a.index + 1, "Ready entries are not contiguous"
            keep = first - self.snap_index() - 1
            self.entries = self.entries[:keep] + [copy_entry(e) for e in rd.entries]
        if rd.hard_state is not None:
            hs = rd.hard_state
            self.hard_state = HardState(hs.term, hs.vote, hs.commit)
        assert self.hard_state.commit <= self.last_index(), "persisted commit beyond persisted log"

    def compact(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.entries = [e for e in self.entries if e.index > snap.meta.index]


@dataclass
class Member:
    id: int
    cfg: Config
    storage: Storage
    node: RaftNode = None  # type: ignore[assignment]
    alive: bool = True
    applied: list[Record] = field(default_factory=list)
    applied_index: int = 0
    read_states: list[ReadState] = field(default_factory=list)
    dropped_reads: list[bytes] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)  # received through a Ready
    readies: list[Ready] = field(default_factory=list)

    def data(self) -> list[bytes]:
        """Payloads of the applied normal, non-empty entries, in order."""
        return [r[3] for r in self.applied if r[2] == EntryType.NORMAL and r[3]]


class Network:
    """Nodes ``ids`` (voters) and ``learners``, configured alike from ``cfg``
    (Config fields) with per-node overrides in ``node_cfg``; ``state`` starts
    chosen nodes from a persisted (hard state, entries) instead of fresh."""

    def __init__(self, ids: Iterable[int] = (1, 2, 3), *, learners: Iterable[int] = (),
                 seed: int = 1, state: dict[int, tuple[HardState, list[Entry]]] | None = None,
                 node_cfg: dict[int, dict] | None = None, **cfg) -> None:
        self.peers = tuple(ids)
        self.initial_learners = tuple(learners)
        self.seed = seed
        self.cfg_defaults = {"election_tick": 10, "heartbeat_tick": 1, **cfg}
        self.members: dict[int, Member] = {}
        self.queue: deque[tuple[int, Message]] = deque()  # (sender, message)
        self.cut_links: set[tuple[int, int]] = set()
        self.isolated: set[int] = set()
        self.drops: list[Callable[[Message], bool]] = []
        self.hold: Callable[[Message], bool] | None = None
        self.held: list[tuple[int, Message]] = []
        self.sent: list[Message] = []
        self.dropped: list[Message] = []
        self.leaders_by_term: dict[int, int] = {}
        self.committed: dict[int, Record] = {}
        state = state or {}
        node_cfg = node_cfg or {}
        for nid in (*self.peers, *self.initial_learners):
            hs, ents = state.get(nid, (None, None))
            self.add(nid, learners=self.initial_learners, hard_state=hs, entries=ents,
                     **node_cfg.get(nid, {}))

    # ---- membership of the simulated cluster --------------------------------
    def config(self, nid: int, peers: Iterable[int], learners: Iterable[int], **over) -> Config:
        kw = {**self.cfg_defaults, "seed": self.seed, **over}
        return Config(nid, peers=tuple(peers), learners=tuple(learners), **kw)

    def add(self, nid: int, peers: Iterable[int] | None = None, learners: Iterable[int] = (), *,
            hard_state: HardState | None = None, entries: list[Entry] | None = None,
            snapshot: Snapshot | None = None, **over) -> RaftNode:
        """Start a node, fresh or from the given persisted state. By default it
        is a founding member (``peers`` = the cluster's); a node joining a
        running cluster passes ``peers=()``."""
        cfg = self.config(nid, self.peers if peers is None else peers, learners, **over)
        st = Storage(hard_state or HardState(), snapshot, [copy_entry(e) for e in entries or []])
        m = Member(nid, cfg, st)
        self.members[nid] = m
        self._boot(m)
        return m.node

    def _boot(self, m: Member) -> None:
        st = m.storage
        hs = st.hard_state
        m.node = RaftNode(m.cfg, hard_state=HardState(hs.term, hs.vote, hs.commit),
                          snapshot=st.snapshot, entries=[copy_entry(e) for e in st.entries])
        m.alive = True
        m.applied = decode_records(st.snapshot.data) if st.snapshot else []
        m.applied_index = st.snap_index()
        self._observe(m.id)

    def crash(self, nid: int) -> None:
        """The node stops; only what it persisted survives."""
        self.members[nid].alive = False

    def restart(self, nid: int, **over) -> RaftNode:
        """Rebuild the node from its storage (optionally with a changed config)."""
        m = self.members[nid]
        if over:
            kw = {k: getattr(m.cfg, k) for k in m.cfg.__dataclass_fields__}
            kw.update(over)
            m.cfg = Config(**kw)
        self._boot(m)
        return m.node

    # ---- faults --------------------------------------------------------------
    def cut(self, a: int, b: int, both: bool = True) -> None:
        self.cut_links.add((a, b))
        if both:
            self.cut_links.add((b, a))

    def isolate(self, *nids: int) -> None:
        self.isolated.update(nids)

    def heal(self) -> None:
        """Reconnect everything and stop dropping or holding messages."""
        self.cut_links.clear()
        self.isolated.clear()
        self.drops.clear()
        self.hold = None
        self.queue.extend(self.held)
        self.held = []

    def drop(self, pred: Callable[[Message], bool]) -> Callable[[Message], bool]:
        self.drops.append(pred)
        return pred

    def release_held(self) -> None:
        self.hold = None
        self.queue.extend(self.held)
        self.held = []

    # ---- driving ---------------------------------------------------------------
    def node(self, nid: int) -> RaftNode:
        return self.members[nid].node

    def alive_ids(self) -> list[int]:
        return sorted(n for n, m in self.members.items() if m.alive)

    def _observe(self, nid: int) -> None:
        node = self.members[nid].node
        if node.is_leader:
            prev = self.leaders_by_term.setdefault(node.term, nid)
            assert prev == nid, f"two leaders in term {node.term}: {prev} and {nid}"

    def _record_commit(self, rec: Record) -> None:
        prev = self.committed.setdefault(rec[0], rec)
        assert prev == rec, f"different entries applied at index {rec[0]}: {prev} vs {rec}"

    def _check_outgoing(self, nid: int, msg: Message) -> None:
        # a forwarded TRANSFER_LEADER names the transferee as its sender, a
        # forwarded READ_INDEX its original requester
        assert msg.frm == nid or msg.type in (MsgType.TRANSFER_LEADER, MsgType.READ_INDEX), msg
        assert msg.to not in (NONE, nid), msg
        assert msg.type not in LOCAL_ONLY, msg
        if msg.type in FORWARDED:
            assert msg.term == 0, f"forwarded request with a term: {msg}"
        else:
            assert msg.term > 0 or msg.type == MsgType.PRE_VOTE_RESP, msg

    def process(self, nid: int) -> Ready:
        """One Ready/advance round: persist, send, apply."""
        m = self.members[nid]
        node = m.node
        rd = node.ready()
        for e in rd.committed_entries:
            # only entries made durable by an earlier Ready may be applied
            assert m.storage.term(e.index) == e.term, f"node {nid} applies non-durable entry {e}"
        m.storage.save(rd)
        for msg in rd.messages:
            self._check_outgoing(nid, msg)
            self.sent.append(msg)
            self.queue.append((nid, msg))
        if rd.snapshot is not None:
            assert not rd.committed_entries, "entries applied on top of an unapplied snapshot"
            m.snapshots.append(rd.snapshot)
            m.applied = decode_records(rd.snapshot.data)
            m.applied_index = rd.snapshot.meta.index
            for rec in m.applied:
                self._record_commit(rec)
        for e in rd.committed_entries:
            assert e.index == m.applied_index + 1, (
                f"node {nid} applies {e.index} after {m.applied_index}")
            rec = (e.index, e.term, int(e.type), e.data)
            self._record_commit(rec)
            m.applied.append(rec)
            m.applied_index = e.index
        m.read_states.extend(rd.read_states)
        m.dropped_reads.extend(rd.dropped_reads)
        m.readies.append(rd)
        node.advance()
        self._observe(nid)
        return rd

    def _deliver(self, src: int, msg: Message) -> None:
        dst = self.members.get(msg.to)
        if (dst is None or not dst.alive or (src, msg.to) in self.cut_links
                or src in self.isolated or msg.to in self.isolated
                or any(pred(msg) for pred in self.drops)):
            self.dropped.append(msg)
            return
        if self.hold is not None and self.hold(msg):
            self.held.append((src, msg))
            return
        dst.node.step(Message.from_wire(msg.to_wire()))
        self._observe(msg.to)

    def step(self, nid: int, msg: Message) -> None:
        """Step a hand-made message into a node (no network faults apply)."""
        self.members[nid].node.step(Message.from_wire(msg.to_wire()))
        self._observe(nid)

    def deliver_all(self) -> None:
        q, self.queue = self.queue, deque()
        for src, msg in q:
            self._deliver(src, msg)

    def stabilize(self, limit: int = 100_000) -> None:
        """Run Ready loops and deliver messages until nothing is left to do."""
        for _ in range(limit):
            busy = False
            for nid in self.alive_ids():
                if self.members[nid].node.has_ready():
                    self.process(nid)
                    busy = True
            if self.queue:
                busy = True
                self.deliver_all()
            if not busy:
                return
        raise AssertionError("network did not stabilize")

    def tick(self, n: int = 1, ids: Iterable[int] | None = None) -> None:
        for _ in range(n):
            for nid in (sorted(ids) if ids is not None else self.alive_ids()):
                if self.members[nid].alive:
                    self.members[nid].node.tick()
                    self._observe(nid)
            self.stabilize()

    def tick_until(self, pred: Callable[[], bool], limit: int = 200,
                   ids: Iterable[int] | None = None) -> int:
        """Tick until ``pred()`` holds; returns the number of ticks taken."""
        for i in range(limit + 1):
            if pred():
                return i
            self.tick(ids=ids)
        raise AssertionError(f"condition not reached within {limit} ticks")

    # ---- queries and shortcuts ---------------------------------------------------
    def leaders(self) -> list[int]:
        return [n for n in self.alive_ids() if self.members[n].node.is_leader]

    def leader(self) -> int | None:
        """The alive leader with the highest term, if any."""
        ls = self.leaders()
        return max(ls, key=lambda n: self.members[n].node.term) if ls else None

    def elect(self, nid: int) -> RaftNode:
        node = self.members[nid].node
        node.campaign()
        self.stabilize()
        assert node.is_leader, f"node {nid} failed to become leader"
        return node

    def propose(self, nid: int, *datas: bytes) -> list[tuple[int, int]]:
        return [self.members[nid].node.propose(d) for d in datas]

    def compact(self, nid: int, index: int | None = None) -> Snapshot:
        """Snapshot the node's state machine at ``index`` (default: applied)."""
        m = self.members[nid]
        index = m.applied_index if index is None else index
        data = encode_records(r for r in m.applied if r[0] <= index)
        snap = m.node.create_snapshot(index, data)
        m.storage.compact(snap)
        return snap

    def entries(self, nid: int) -> list[tuple[int, int, bytes]]:
        """(index, term, data) of the node's in-memory log."""
        return [(e.index, e.term, e.data) for e in self.members[nid].node.log.entries]

    def sent_of(self, mtype: MsgType, frm: int | None = None,
                to: int | None = None) -> list[Message]:
        return [m for m in self.sent if m.type == mtype
                and (frm is None or m.frm == frm) and (to is None or m.to == to)]
