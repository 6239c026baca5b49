"""A pure Raft node: a deterministic state machine with no I/O.

Driven from outside, as etcd's raft is: ``tick()`` advances logical time,
``step(msg)`` feeds a message, ``propose(data)`` appends on the leader,
``read_index(ctx)`` asks for a linearizable read point. ``ready()`` returns
what the host must do — persist hard state, entries and any received snapshot
(fsync), *then* send the messages, then apply the committed entries — and
``advance()`` tells the node it was done.

Features: randomized election timeouts, PreVote, CheckQuorum with leader
lease, batched and pipelined replication with flow control, commit of
current-term entries only (new leaders append a no-op), ReadIndex, snapshots
with log compaction and InstallSnapshot, leadership transfer, single-server
membership changes (one uncommitted at a time) and learners.
"""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

from .log import RaftLog
from .raftpb import (
    NONE, ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState,
    Message, MsgType, ReadState, Snapshot, SnapshotMeta,
)

CAMPAIGN_TRANSFER = b"transfer"


class StateType(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


class ProposalDropped(Exception):
    """The proposal was not appended; ``leader`` is a hint (0 if unknown)."""

    def __init__(self, reason: str, leader: int = NONE) -> None:
        super().__init__(reason)
        self.leader = leader


class NotLeader(ProposalDropped):
    pass


@dataclass
class Config:
    id: int
    # a brand-new cluster's members: a node with no persisted state bootstraps
    # by logging them as committed conf changes; a node joining an existing
    # cluster passes none and learns the membership from the leader's log
    peers: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    election_tick: int = 10
    heartbeat_tick: int = 1
    max_msg_bytes: int = 1 << 20       # bytes of entries per append message
    max_inflight: int = 64             # append messages in flight per follower
    pre_vote: bool = True
    check_quorum: bool = True
    seed: int = 0                      # for randomized election timeouts

    def __post_init__(self) -> None:
        if self.id == NONE:
            raise ValueError("node id must be non-zero")
        if self.heartbeat_tick <= 0 or self.election_tick <= self.heartbeat_tick:
            raise ValueError("need 0 < heartbeat_tick < election_tick")


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Progress:
    """The leader's view of one follower."""
    __slots__ = ("match", "next", "state", "paused", "pending_snapshot",
                 "recent_active", "inflight", "learner", "snap_wait")

    def __init__(self, next_index: int, learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.paused = False
        self.pending_snapshot = 0
        self.recent_active = False
        self.inflight: deque[int] = deque()
        self.learner = learner
        self.snap_wait = 0  # heartbeat answers seen while a snapshot is in flight

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.paused = False
        self.pending_snapshot = 0
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.paused = False
        self.inflight.clear()

    def become_snapshot(self, index: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index
        self.snap_wait = 0
        self.paused = False
        self.inflight.clear()

    def maybe_update(self, n: int) -> bool:
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.paused = False
        if self.next < n + 1:
            self.next = n + 1
        return updated

    def maybe_decr_to(self, rejected: int, hint: int) -> bool:
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False  # stale rejection
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False  # stale rejection
        self.next = max(min(rejected, hint + 1), 1)
        self.paused = False
        return True

    def is_paused(self, max_inflight: int) -> bool:
        if self.state == ProgressState.PROBE:
            return self.paused
        if self.state == ProgressState.REPLICATE:
            return len(self.inflight) >= max_inflight
        return True

    def free_le(self, index: int) -> None:
        inf = self.inflight
        while inf and inf[0] <= index:
            inf.popleft()


@dataclass
class Ready:
    """Work for the host. Persist ``hard_state``, ``entries`` and ``snapshot``
    durably first; then send ``messages`` (a leader's may go out while it
    persists: ``send_before_persist``); then apply ``snapshot`` and
    ``committed_entries``; deliver ``read_states``; fail ``dropped_reads``."""
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    dropped_reads: list[bytes] = field(default_factory=list)
    leader: int = NONE
    state: StateType = StateType.FOLLOWER
    sync: bool = False
    # a leader whose term and vote did not change may send before its own
    # write is durable (Raft thesis 10.2.1): it counts its own entries toward
    # commit only after advance(), so nothing commits on a volatile copy
    send_before_persist: bool = False

    def must_sync(self) -> bool:
        """Must the writes be fsync'd before the messages go out? Entries, a
        snapshot, or a new term or vote must; a commit index alone need not
        (it is re-learned from the leader after a crash)."""
        return self.sync


@dataclass
class _PendingRead:
    index: int
    frm: int          # requester (self.id for local reads)
    ctx: bytes
    acks: set[int]


def bootstrap_entries(voters: tuple[int, ...], learners: tuple[int, ...] = ()) -> list[Entry]:
    """A new cluster's first log entries: one committed conf change per member
    (term 1), identical on every founding member."""
    ccs = [ConfChange(ConfChangeType.ADD_NODE, n) for n in sorted(voters)]
    ccs += [ConfChange(ConfChangeType.ADD_LEARNER, n) for n in sorted(learners)]
    return [Entry(1, i + 1, EntryType.CONF_CHANGE, cc.encode()) for i, cc in enumerate(ccs)]


class RaftNode:
    """One Raft participant. Not thread-safe; the host serializes calls."""

    def __init__(self, cfg: Config, hard_state: HardState | None = None,
                 snapshot: Snapshot | None = None,
                 entries: list[Entry] | None = None,
                 applied: int | None = None) -> None:
        """Start fresh, or restart from persisted state: hard state, the
        latest snapshot and the log entries after it. The host's state machine
        is assumed restored from ``snapshot`` (``applied`` overrides).

        Membership always comes from the snapshot and the log, never from
        outside, so that every log position has exactly one configuration."""
        self.cfg = cfg
        self.id = cfg.id
        self.rng = random.Random(cfg.seed * 1_000_003 + cfg.id)
        self.state = StateType.FOLLOWER
        self.prs: dict[int, Progress] = {}
        self._need_bcast = False
        self._need_heartbeat = False
        self.snapshot: Snapshot | None = snapshot if snapshot and not snapshot.is_empty() else None
        snap = snapshot.meta if snapshot else SnapshotMeta()
        hs = hard_state or HardState()
        fresh = hs.is_empty() and not entries and snap.index == 0
        bootstrap = fresh and bool(cfg.peers or cfg.learners)
        if bootstrap:
            entries = bootstrap_entries(cfg.peers, cfg.learners)
            hs = HardState(term=1, vote=NONE, commit=len(entries))
        self.log = RaftLog(snap.index, snap.term, entries)
        if bootstrap:
            self.log.stable = 0  # the first Ready persists the bootstrap entries
        self.term = hs.term
        self.vote = hs.vote
        self.log.commit_to(min(hs.commit, self.log.last_index()))
        # membership: the snapshot's, then the committed conf changes after it
        self.voters = set(snap.conf_state.voters)
        self.learners = set(snap.conf_state.learners)
        self._conf_history: list[tuple[int, ConfState]] = [(snap.index, self.conf_state())]
        self._conf_applied = snap.index  # conf changes applied through this index
        self.pending_conf_index = 0
        self._apply_committed_conf_changes()
        if applied is not None:
            self.log.applied = max(snap.index, min(applied, self.log.committed))

        self.lead = NONE
        self.lead_transferee = NONE
        self.votes: dict[int, bool] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = cfg.election_tick
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.dropped_reads: list[bytes] = []
        self._pending_reads: deque[_PendingRead] = deque()
        self._deferred_reads: list[Message] = []  # waiting for a commit in term
        self._prev_hs = (0, NONE, 0) if bootstrap else (self.term, self.vote, self.log.committed)
        self._prev_soft = (NONE, StateType.FOLLOWER)
        self._inflight_ready: tuple | None = None
        self.become_follower(self.term, NONE)

    # ======================================================================
    # public API
    # ======================================================================
    def tick(self) -> None:
        if self.state == StateType.LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def campaign(self) -> None:
        """Start an election now (as a timeout would)."""
        self.step(Message(MsgType.HUP, frm=self.id))

    def propose(self, data: bytes) -> tuple[int, int]:
        """Append ``data`` on the leader; returns (term, index) of the entry."""
        return self._propose(EntryType.NORMAL, data)

    def propose_conf_change(self, cc: ConfChange) -> tuple[int, int]:
        if self.state == StateType.LEADER:
            if self.pending_conf_index > self.log.committed:
                raise ProposalDropped("a configuration change is already in progress", self.id)
            if self.log.term(self.log.committed) != self.term:
                raise ProposalDropped("leader has not committed an entry in its term yet", self.id)
            if cc.type == ConfChangeType.REMOVE_NODE and self.voters == {cc.node_id}:
                raise ProposalDropped("cannot remove the last voter", self.id)
        term, index = self._propose(EntryType.CONF_CHANGE, cc.encode())
        self.pending_conf_index = index
        return term, index

    def read_index(self, ctx: bytes) -> None:
        """Ask for a read point; answered by a ReadState with this ``ctx`` in a
        later Ready, or by ``ctx`` in ``dropped_reads`` if it cannot be served.
        A forwarded request or answer lost by the network is never answered:
        hosts time reads out. ``ctx`` must be unique among pending reads."""
        self.step(Message(MsgType.READ_INDEX, frm=self.id, context=ctx))

    def transfer_leadership(self, to: int) -> None:
        self.step(Message(MsgType.TRANSFER_LEADER, frm=to))

    def report_unreachable(self, peer: int) -> None:
        self.step(Message(MsgType.UNREACHABLE, frm=peer))

    def report_snapshot_failure(self, peer: int) -> None:
        self.step(Message(MsgType.SNAP_STATUS, frm=peer, reject=True))

    def create_snapshot(self, index: int, data: bytes) -> Snapshot:
        """The host snapshotted its state machine at applied ``index``: keep
        the snapshot to send lagging followers and compact the log behind it.
        Returns the Snapshot for the host to persist (then release its WAL)."""
        if index > self.log.applied:
            raise ValueError(f"snapshot index {index} beyond applied {self.log.applied}")
        term = self.log.term(index)
        if term is None:
            raise ValueError(f"snapshot index {index} already compacted")
        snap = Snapshot(SnapshotMeta(index, term, self._conf_at(index)), data)
        self.snapshot = snap
        self.log.compact_to(index)
        # keep the configuration in force at the snapshot and every later one
        self._conf_history = [(index, snap.meta.conf_state)] + [h for h in self._conf_history if h[0] > index]
        return snap

    def conf_state(self) -> ConfState:
        return ConfState(tuple(sorted(self.voters)), tuple(sorted(self.learners)))

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    @property
    def is_leader(self) -> bool:
        return self.state == StateType.LEADER

    def has_ready(self) -> bool:
        if self._need_bcast or self._need_heartbeat:
            self._flush_bcast()
        log = self.log
        return bool(
            self.msgs or self.read_states or self.dropped_reads
            or log.pending_snapshot is not None
            or log.stable < log.last_index()
            or min(log.committed, log.stable) > log.applied
            or (self.term, self.vote, log.committed) != self._prev_hs
            or (self.lead, self.state) != self._prev_soft
        )

    def ready(self) -> Ready:
        """Collect work for the host. Call ``advance()`` when it is done."""
        if self._inflight_ready is not None:
            raise RuntimeError("ready() called again before advance()")
        self._flush_bcast()
        log = self.log
        hs = (self.term, self.vote, log.committed)
        rd = Ready(
            hard_state=HardState(*hs) if hs != self._prev_hs else None,
            entries=log.unstable_entries(),
            snapshot=log.pending_snapshot,
            committed_entries=[] if log.pending_snapshot is not None else log.next_committed(),
            messages=self.msgs,
            read_states=self.read_states,
            dropped_reads=self.dropped_reads,
            leader=self.lead,
            state=self.state,
        )
        rd.sync = bool(rd.entries) or rd.snapshot is not None or hs[:2] != self._prev_hs[:2]
        rd.send_before_persist = (self.state == StateType.LEADER and rd.snapshot is None
                                  and hs[:2] == self._prev_hs[:2])
        self.msgs, self.read_states, self.dropped_reads = [], [], []
        last = rd.entries[-1] if rd.entries else None
        applied = rd.committed_entries[-1].index if rd.committed_entries else 0
        self._inflight_ready = (hs, last, rd.snapshot, applied)
        self._prev_soft = (self.lead, self.state)
        return rd

    def advance(self) -> None:
        """The last Ready was persisted, sent and applied."""
        if self._inflight_ready is None:
            raise RuntimeError("advance() without ready()")
        hs, last, snap, applied = self._inflight_ready
        self._inflight_ready = None
        self._prev_hs = hs
        log = self.log
        if snap is not None and log.pending_snapshot is snap:
            log.pending_snapshot = None
            log.applied_to(snap.meta.index)
        if last is not None:
            log.stable_to(last.index, last.term)
            if self.state == StateType.LEADER:
                pr = self.prs.get(self.id)
                if pr is not None and pr.maybe_update(log.stable) and self._maybe_commit():
                    self._need_bcast = True
        if applied:
            log.applied_to(applied)

    # ======================================================================
    # state transitions
    # ======================================================================
    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = self.cfg.election_tick + self.rng.randrange(self.cfg.election_tick)
        self.votes = {}
        self.lead_transferee = NONE
        self._drop_pending_reads()
        last = self.log.last_index()
        self.prs = {}
        for n in self.voters | self.learners:
            self.prs[n] = Progress(last + 1, learner=n in self.learners)
        if self.id in self.prs:
            self.prs[self.id].match = self.log.stable

    def _drop_pending_reads(self) -> None:
        """Leadership is gone: refuse every read still waiting, local or forwarded."""
        reads = [(r.frm, r.ctx) for r in self._pending_reads]
        reads += [(m.frm, m.context) for m in self._deferred_reads]
        self._pending_reads.clear()
        self._deferred_reads.clear()
        for frm, ctx in reads:
            self._drop_read(Message(MsgType.READ_INDEX, frm=frm, context=ctx))

    def become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self.state = StateType.FOLLOWER
        self.lead = lead

    def _become_pre_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise RuntimeError("leader cannot become pre-candidate")
        # PreVote changes neither term nor vote
        self.votes = {}
        self.state = StateType.PRE_CANDIDATE
        self.lead = NONE
        self.election_elapsed = 0
        self.randomized_timeout = self.cfg.election_tick + self.rng.randrange(self.cfg.election_tick)

    def _become_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise RuntimeError("leader cannot become candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.state = StateType.CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.state = StateType.LEADER
        self.lead = self.id
        self.pending_conf_index = self.log.last_index()
        pr = self.prs[self.id]
        pr.become_replicate()
        self._append([Entry(self.term, 0, EntryType.NORMAL, b"")])
        self._need_bcast = True

    def _promotable(self) -> bool:
        return self.id in self.voters

    # ======================================================================
    # ticks
    # ======================================================================
    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self._promotable() and self.election_elapsed >= self.randomized_timeout:
            self.election_elapsed = 0
            self.step(Message(MsgType.HUP, frm=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_tick:
            self.election_elapsed = 0
            if self.cfg.check_quorum:
                if not self._quorum_active():
                    self.become_follower(self.term, NONE)
                    return
            if self.lead_transferee != NONE:
                self.lead_transferee = NONE  # transfer timed out
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat()

    def _quorum_active(self) -> bool:
        """Did a quorum of voters answer during the last election timeout?"""
        active = 0
        for n, pr in self.prs.items():
            if (n == self.id or pr.recent_active) and n in self.voters:
                active += 1
            pr.recent_active = n == self.id
        return active >= self._quorum()

    def _quorum(self) -> int:
        return len(self.voters) // 2 + 1

    # ======================================================================
    # step
    # ======================================================================
    def step(self, m: Message) -> None:
        t = m.type
        if m.term == 0:
            pass  # local message
        elif m.term > self.term:
            if t in (MsgType.VOTE, MsgType.PRE_VOTE):
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (self.cfg.check_quorum and self.lead != NONE
                            and self.election_elapsed < self.cfg.election_tick)
                if not force and in_lease:
                    return  # a live leader exists: ignore the disruptive vote
            if t == MsgType.PRE_VOTE:
                pass  # never change term on a pre-vote request
            elif t == MsgType.PRE_VOTE_RESP and not m.reject:
                pass  # the term is bumped when the real election starts
            elif t in (MsgType.APP, MsgType.HEARTBEAT, MsgType.SNAP):
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.cfg.check_quorum or self.cfg.pre_vote) and t in (MsgType.HEARTBEAT, MsgType.APP):
                # tell a stale leader about the newer term so it steps down
                self._send(Message(MsgType.APP_RESP, to=m.frm))
            elif t == MsgType.PRE_VOTE:
                self._send(Message(MsgType.PRE_VOTE_RESP, to=m.frm, term=self.term, reject=True))
            return

        if t == MsgType.HUP:
            if self.state != StateType.LEADER and self._promotable():
                if self.cfg.pre_vote:
                    self._campaign(pre=True)
                else:
                    self._campaign(pre=False)
            return
        if t in (MsgType.VOTE, MsgType.PRE_VOTE):
            self._handle_vote_request(m)
            return
        if t == MsgType.READ_INDEX_RESP:
            # answers our own earlier read, whatever our role is by now
            if m.reject:
                self.dropped_reads.append(m.context)
            else:
                self.read_states.append(ReadState(m.index, m.context))
            return

        if self.state == StateType.LEADER:
            self._step_leader(m)
        elif self.state in (StateType.CANDIDATE, StateType.PRE_CANDIDATE):
            self._step_candidate(m)
        else:
            self._step_follower(m)

    def _handle_vote_request(self, m: Message) -> None:
        pre = m.type == MsgType.PRE_VOTE
        can_vote = (self.vote == m.frm
                    or (self.vote == NONE and self.lead == NONE)
                    or (pre and m.term > self.term))
        resp_type = MsgType.PRE_VOTE_RESP if pre else MsgType.VOTE_RESP
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # a granted pre-vote answers with the requested term
            self._send(Message(resp_type, to=m.frm, term=m.term))
            if not pre:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(Message(resp_type, to=m.frm, term=self.term, reject=True))

    def _campaign(self, pre: bool, transfer: bool = False) -> None:
        if pre:
            self._become_pre_candidate()
            vote_msg, term = MsgType.PRE_VOTE, self.term + 1
        else:
            self._become_candidate()
            vote_msg, term = MsgType.VOTE, self.term
        self.votes[self.id] = True
        if self._poll_result() == 1:
            if pre:
                self._campaign(pre=False)
            else:
                self._become_leader()
            return
        ctx = CAMPAIGN_TRANSFER if transfer else b""
        for n in sorted(self.voters):
            if n != self.id:
                self._send(Message(vote_msg, to=n, term=term, index=self.log.last_index(),
                                   log_term=self.log.last_term(), context=ctx))

    def _poll_result(self) -> int:
        """1 won, -1 lost, 0 pending."""
        granted = sum(1 for n, v in self.votes.items() if v and n in self.voters)
        rejected = sum(1 for n, v in self.votes.items() if not v and n in self.voters)
        q = self._quorum()
        if granted >= q:
            return 1
        if rejected >= q or granted + (len(self.voters) - granted - rejected) < q:
            return -1
        return 0

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        my_resp = MsgType.PRE_VOTE_RESP if self.state == StateType.PRE_CANDIDATE else MsgType.VOTE_RESP
        if t == MsgType.PROP:
            raise NotLeader("no leader", NONE)
        if t in (MsgType.APP, MsgType.HEARTBEAT, MsgType.SNAP):
            self.become_follower(m.term, m.frm)
            self._step_follower(m)
        elif t == my_resp:
            self.votes.setdefault(m.frm, not m.reject)
            res = self._poll_result()
            if res == 1:
                if self.state == StateType.PRE_CANDIDATE:
                    self._campaign(pre=False)
                else:
                    self._become_leader()
            elif res == -1:
                self.become_follower(self.term, NONE)
        elif t == MsgType.READ_INDEX:
            self._drop_read(m)

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MsgType.APP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_append(m)
        elif t == MsgType.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.frm
            self.log.commit_to(min(m.commit, self.log.last_index()))
            self._apply_committed_conf_changes()
            self._send(Message(MsgType.HEARTBEAT_RESP, to=m.frm, context=m.context))
        elif t == MsgType.SNAP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t == MsgType.TRANSFER_LEADER:
            if self.lead != NONE:
                self._send(Message(MsgType.TRANSFER_LEADER, to=self.lead, frm=m.frm, term=0))
        elif t == MsgType.TIMEOUT_NOW:
            if self._promotable():
                self._campaign(pre=False, transfer=True)
        elif t == MsgType.READ_INDEX:
            if self.lead == NONE:
                self._drop_read(m)
            else:
                # keep the original requester: the leader answers it directly
                self._send(Message(MsgType.READ_INDEX, to=self.lead, frm=m.frm or self.id,
                                   context=m.context))
        elif t == MsgType.PROP:
            raise NotLeader("not the leader", self.lead)

    def _drop_read(self, m: Message) -> None:
        if m.frm in (self.id, NONE):
            self.dropped_reads.append(m.context)
        else:
            self._send(Message(MsgType.READ_INDEX_RESP, to=m.frm, reject=True, context=m.context))

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self._send(Message(MsgType.APP_RESP, to=m.frm, index=log.committed))
            return
        last = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last is not None:
            self._apply_committed_conf_changes()
            self._send(Message(MsgType.APP_RESP, to=m.frm, index=last))
        else:
            hint = log.find_conflict_by_term(m.index, m.log_term)
            self._send(Message(MsgType.APP_RESP, to=m.frm, index=m.index, reject=True,
                               reject_hint=hint, log_term=log.term(hint) or 0))

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        assert snap is not None
        log = self.log
        idx, term = snap.meta.index, snap.meta.term
        if idx <= log.committed:
            self._send(Message(MsgType.APP_RESP, to=m.frm, index=log.committed))
            return
        if log.matches(idx, term):
            # we already have the entries: just fast-forward the commit; claim
            # no more than what the snapshot proved to match
            log.commit_to(idx)
            self._apply_committed_conf_changes()
            self._send(Message(MsgType.APP_RESP, to=m.frm, index=log.committed))
            return
        log.restore(snap)
        self.snapshot = snap  # our newest snapshot now, to send on if we lead
        self.voters = set(snap.meta.conf_state.voters)
        self.learners = set(snap.meta.conf_state.learners)
        self._conf_history = [(idx, snap.meta.conf_state)]
        self._conf_applied = idx
        self._send(Message(MsgType.APP_RESP, to=m.frm, index=log.last_index()))

    # ---- leader ------------------------------------------------------------
    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == MsgType.BEAT:
            self._bcast_heartbeat()
            return
        if t == MsgType.PROP:
            if self.lead_transferee != NONE:
                raise ProposalDropped("leadership transfer in progress", self.lead_transferee)
            if self.id not in self.prs:
                raise ProposalDropped("leader was removed from the cluster", NONE)
            self._append(m.entries)
            self._need_bcast = True
            return
        if t == MsgType.READ_INDEX:
            self._leader_read_index(m)
            return
        if t == MsgType.TRANSFER_LEADER:
            self._leader_transfer(m.frm)
            return

        pr = self.prs.get(m.frm)
        if pr is None:
            return
        if t == MsgType.APP_RESP:
            pr.recent_active = True
            if m.reject:
                if pr.maybe_decr_to(m.index, m.reject_hint):
                    if pr.state == ProgressState.REPLICATE:
                        pr.become_probe()
                    self._send_append(m.frm)
                return
            old_paused = pr.is_paused(self.cfg.max_inflight)
            if pr.maybe_update(m.index):
                if pr.state == ProgressState.PROBE:
                    pr.become_replicate()
                elif pr.state == ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
                    pr.become_probe()
                    pr.become_replicate()
                elif pr.state == ProgressState.REPLICATE:
                    pr.free_le(m.index)
                if self._maybe_commit():
                    self._need_bcast = True  # carry the new commit index, batched
                elif old_paused or pr.next <= self.log.last_index():
                    self._send_append(m.frm)
                if m.frm == self.lead_transferee and pr.match == self.log.last_index():
                    self._send(Message(MsgType.TIMEOUT_NOW, to=m.frm))
        elif t == MsgType.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.paused = False
            if pr.state == ProgressState.REPLICATE and len(pr.inflight) >= self.cfg.max_inflight:
                pr.inflight.popleft()  # let a stalled window move again
            elif pr.state == ProgressState.SNAPSHOT:
                pr.snap_wait += 1
                if pr.snap_wait > self.cfg.election_tick:
                    # the snapshot was probably lost: probe (and resend) again
                    pr.pending_snapshot = 0
                    pr.become_probe()
            if pr.match < self.log.last_index():
                self._send_append(m.frm)
            if m.context:
                self._read_ack(m.frm, m.context)
        elif t == MsgType.SNAP_STATUS:
            if pr.state == ProgressState.SNAPSHOT:
                if m.reject:
                    pr.pending_snapshot = 0
                pr.become_probe()
                pr.paused = True  # wait for a heartbeat response before retrying
        elif t == MsgType.UNREACHABLE:
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()

    def _leader_transfer(self, to: int) -> None:
        if to == self.id or to not in self.voters:
            return
        if self.lead_transferee == to:
            return
        self.lead_transferee = to
        self.election_elapsed = 0
        pr = self.prs[to]
        if pr.match == self.log.last_index():
            self._send(Message(MsgType.TIMEOUT_NOW, to=to))
        else:
            self._send_append(to)

    def _leader_read_index(self, m: Message) -> None:
        if self.log.term(self.log.committed) != self.term:
            # our commit index may be stale until an entry of this term commits
            self._deferred_reads.append(m)
            return
        frm = m.frm if m.frm != NONE else self.id
        if self._quorum() == 1 and self.id in self.voters:
            self._answer_read(frm, self.log.committed, m.context)
            return
        self._pending_reads.append(_PendingRead(self.log.committed, frm, m.context, {self.id}))
        self._need_heartbeat = True  # one confirming round for all reads until the next Ready

    def _answer_read(self, frm: int, index: int, ctx: bytes) -> None:
        if frm == self.id:
            self.read_states.append(ReadState(index, ctx))
        else:
            self._send(Message(MsgType.READ_INDEX_RESP, to=frm, index=index, context=ctx))

    def _read_ack(self, frm: int, ctx: bytes) -> None:
        pos = None
        for i, r in enumerate(self._pending_reads):
            if r.ctx == ctx:
                if frm in self.voters:
                    r.acks.add(frm)
                if len(r.acks) >= self._quorum():
                    pos = i
                break
        if pos is None:
            return
        # a quorum for this read confirms every earlier one too
        for _ in range(pos + 1):
            r = self._pending_reads.popleft()
            self._answer_read(r.frm, r.index, r.ctx)

    def _append(self, entries: list[Entry]) -> None:
        last = self.log.last_index()
        es = [Entry(self.term, last + 1 + i, e.type, e.data) for i, e in enumerate(entries)]
        self.log.append(es)

    def _propose(self, etype: EntryType, data: bytes) -> tuple[int, int]:
        if self.state != StateType.LEADER:
            raise NotLeader("not the leader", self.lead)
        self.step(Message(MsgType.PROP, frm=self.id, entries=[Entry(0, 0, etype, data)]))
        return self.term, self.log.last_index()

    def _maybe_commit(self) -> bool:
        matches = sorted((self.prs[n].match for n in self.voters if n in self.prs), reverse=True)
        q = self._quorum()
        if len(matches) < q:
            return False
        idx = matches[q - 1]
        # only entries of the current term are committed by counting replicas
        if idx > self.log.committed and self.log.term(idx) == self.term:
            self.log.commit_to(idx)
            self._apply_committed_conf_changes()
            if self._deferred_reads and self.state == StateType.LEADER:
                deferred, self._deferred_reads = self._deferred_reads, []
                for rm in deferred:
                    self._leader_read_index(rm)
            return True
        return False

    def _flush_bcast(self) -> None:
        if self._need_bcast:
            self._need_bcast = False
            if self.state == StateType.LEADER:
                self._bcast_append()
        if self._need_heartbeat:
            self._need_heartbeat = False
            if self.state == StateType.LEADER and self._pending_reads:
                self._bcast_heartbeat()

    def _bcast_append(self) -> None:
        for n in self.prs:
            if n != self.id:
                self._send_append(n)

    def _bcast_heartbeat(self, ctx: bytes = b"") -> None:
        if not ctx and self._pending_reads:
            ctx = self._pending_reads[-1].ctx
        for n, pr in self.prs.items():
            if n != self.id:
                self._send(Message(MsgType.HEARTBEAT, to=n, commit=min(pr.match, self.log.committed),
                                   context=ctx))

    def _send_append(self, to: int) -> None:
        pr = self.prs[to]
        if pr.is_paused(self.cfg.max_inflight):
            return
        log = self.log
        prev = pr.next - 1
        prev_term = log.term(prev)
        if prev_term is None:
            self._send_snapshot(to, pr)
            return
        ents = log.slice(pr.next, log.last_index() + 1, self.cfg.max_msg_bytes) \
            if pr.next <= log.last_index() else []
        self._send(Message(MsgType.APP, to=to, index=prev, log_term=prev_term,
                           entries=ents, commit=log.committed))
        if pr.state == ProgressState.REPLICATE:
            if ents:
                last = ents[-1].index
                pr.next = last + 1
                pr.inflight.append(last)
        elif pr.state == ProgressState.PROBE:
            pr.paused = True

    def _send_snapshot(self, to: int, pr: Progress) -> None:
        if not pr.recent_active:
            return  # don't ship a snapshot to a peer that seems down
        snap = self.snapshot
        if snap is None or snap.meta.index < self.log.snap_index:
            raise RuntimeError("log compacted without a local snapshot")
        pr.become_snapshot(snap.meta.index)
        self._send(Message(MsgType.SNAP, to=to, snapshot=snap))

    def _send(self, m: Message) -> None:
        if m.frm == NONE:
            m.frm = self.id
        if m.type in (MsgType.PROP, MsgType.READ_INDEX, MsgType.READ_INDEX_RESP,
                      MsgType.TRANSFER_LEADER):
            # forwarded requests are handled by whoever leads now; a read
            # answer stays valid whatever the requester's term is by then (the
            # leader confirmed its leadership after the request arrived)
            m.term = 0
        elif m.term == 0:
            m.term = self.term
        self.msgs.append(m)

    # ======================================================================
    # membership
    # ======================================================================
    def _apply_committed_conf_changes(self) -> None:
        """Conf changes take effect once committed, in log order."""
        log = self.log
        start = max(self._conf_applied, log.snap_index) + 1
        end = log.committed
        if start > end:
            return
        changed = False
        for e in log.entries[start - log.snap_index - 1: end - log.snap_index]:
            if e.type == EntryType.CONF_CHANGE:
                self._apply_conf_change(ConfChange.decode(e.data))
                self._conf_history.append((e.index, self.conf_state()))
                changed = True
        self._conf_applied = end
        if changed and self.state == StateType.LEADER:
            self._need_bcast = True
            if self.id not in self.voters:
                self._bcast_append()  # tell the others about the commit first
                self.become_follower(self.term, NONE)
            else:
                self._maybe_commit()

    def _apply_conf_change(self, cc: ConfChange) -> None:
        n = cc.node_id
        if cc.type == ConfChangeType.ADD_NODE:
            self.learners.discard(n)
            self.voters.add(n)
        elif cc.type == ConfChangeType.ADD_LEARNER:
            if n in self.voters:
                return
            self.learners.add(n)
        elif cc.type == ConfChangeType.REMOVE_NODE:
            self.voters.discard(n)
            self.learners.discard(n)
        if self.state == StateType.LEADER:
            if n in self.voters or n in self.learners:
                if n not in self.prs:
                    self.prs[n] = Progress(self.log.last_index() + 1)
                self.prs[n].learner = n in self.learners
            else:
                self.prs.pop(n, None)
                if self.lead_transferee == n:
                    self.lead_transferee = NONE

    def _conf_at(self, index: int) -> ConfState:
        cs = self._conf_history[0][1]
        for i, c in self._conf_history:
            if i <= index:
                cs = c
        return cs
