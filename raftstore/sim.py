"""Deterministic simulation of a raftstore cluster under faults.

One seed fixes everything: 3 or 5 Raft nodes with MVCC state machines and
in-memory disks (a Ready's writes are lost on a crash unless its fsync
finished — or, by chance, they reached the disk anyway), a network that
drops, delays, duplicates, reorders and partitions batches of messages
(asymmetric partitions included), crash-restarts, leadership transfers and
log compaction with InstallSnapshot. Simulated clients issue puts, deletes,
compare-and-swaps and linearizable reads, retrying with the same
(client, sequence) so writes stay exactly-once, and record a history.

Checked after each run: election safety, leader append-only, log matching,
leader completeness, state machine safety, that the cluster converges once
faults stop, that replicas end identical, that every acknowledged write is
in every replica's history, and that the client history is linearizable.

    python -m raftstore.sim --seeds 300 --faults all
    python -m raftstore.sim --seed 17 --nodes 5 -v      # replay one seed
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import msgpack

from .linearizability import KVModel, Operation, check
from .mvcc import MVCCStore, encode_entry
from .raft import Config, ProposalDropped, RaftNode, Ready, StateType
from .raftpb import Entry, EntryType, HardState, Message, MsgType, Snapshot

FAULTS = ("drop", "dup", "delay", "partition", "crash", "transfer")
TICK_MS = 10.0


@dataclass
class SimConfig:
    seed: int = 0
    nodes: int = 3
    ops: int = 500
    clients: int = 5
    keys: int = 4
    faults: frozenset[str] = frozenset(FAULTS)
    snapshot_every: int = 40         # applied entries between local snapshots
    attempt_timeout_ms: float = 150.0
    op_timeout_ms: float = 1500.0
    max_time_ms: float = 120_000.0
    settle_ms: float = 20_000.0
    verbose: bool = False


@dataclass
class Stats:
    ops: int = 0
    ok_ops: int = 0
    unknown_ops: int = 0
    crashes: int = 0
    partitions: int = 0
    transfers: int = 0
    elections: int = 0
    snapshots_sent: int = 0
    messages: int = 0
    sim_ms: float = 0.0

    def add(self, o: "Stats") -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(o, k))


class Disk:
    """A node's durable state: what survived the last fsync."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []

    def write(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = []
        if rd.entries:
            first = rd.entries[0].index
            base = self.snapshot.meta.index if self.snapshot else 0
            del self.entries[max(first - base - 1, 0):]
            self.entries.extend(rd.entries)
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state

    def save_snapshot(self, snap: Snapshot) -> None:
        base = self.snapshot.meta.index if self.snapshot else 0
        if snap.meta.index <= base:
            return
        self.entries = self.entries[snap.meta.index - base:]
        self.snapshot = snap

    def term(self, index: int) -> int | None:
        base = self.snapshot.meta.index if self.snapshot else 0
        if index == base:
            return self.snapshot.meta.term if self.snapshot else 0
        off = index - base - 1
        if 0 <= off < len(self.entries):
            return self.entries[off].term
        return None


class SimNode:
    def __init__(self, sim: "Simulation", nid: int) -> None:
        self.sim = sim
        self.id = nid
        self.disk = Disk()
        self.alive = False
        self.incarnation = 0
        self.start()

    def start(self) -> None:
        sim = self.sim
        d = self.disk
        self.incarnation += 1
        self.alive = True
        self.raft = RaftNode(
            Config(self.id, peers=tuple(range(1, sim.cfg.nodes + 1)), election_tick=10,
                   heartbeat_tick=2, max_msg_bytes=sim.max_msg_bytes, max_inflight=32,
                   pre_vote=sim.pre_vote, check_quorum=sim.check_quorum,
                   seed=sim.cfg.seed * 7919 + self.incarnation),
            hard_state=d.hard_state, snapshot=d.snapshot, entries=list(d.entries))
        self.store = MVCCStore.restore(d.snapshot.data) if d.snapshot else MVCCStore()
        self.syncing: Ready | None = None
        self.since_snapshot = 0
        self.pending_writes: dict[tuple[str, int], tuple[int, int]] = {}
        self.pending_reads: dict[bytes, tuple[int, int, dict]] = {}
        self.waiting_reads: list[tuple[int, bytes]] = []
        self.read_seq = 0
        self.leader_term = -1       # term in which this node last led (append-only check)
        self.leader_last = 0
        sim.at(sim.now + sim.rng.uniform(0, TICK_MS), self.on_tick, self.incarnation)

    def crash(self) -> None:
        if self.syncing is not None and self.sim.rng.random() < 0.5:
            self.disk.write(self.syncing)  # written, but the fsync never returned
        self.alive = False
        self.incarnation += 1
        self.syncing = None

    # ---- driving the Raft node --------------------------------------------
    def on_tick(self, inc: int) -> None:
        if inc != self.incarnation:
            return
        self.raft.tick()
        self.kick()
        self.sim.at(self.sim.now + TICK_MS, self.on_tick, inc)

    def kick(self) -> None:
        if self.syncing is not None or not self.alive or not self.raft.has_ready():
            return
        rd = self.raft.ready()
        self.sim.observe_ready(self, rd)
        if rd.must_sync():
            self.syncing = rd
            self.sim.at(self.sim.now + self.sim.rng.uniform(0.2, 2.0), self.on_synced, self.incarnation)
        else:
            self.syncing = rd
            self.on_synced(self.incarnation)

    def on_synced(self, inc: int) -> None:
        if inc != self.incarnation:
            return
        rd = self.syncing
        assert rd is not None
        self.disk.write(rd)
        self.sim.send(self.id, rd.messages)
        if rd.snapshot is not None:
            self.store = MVCCStore.restore(rd.snapshot.data)
            self.waiting_reads.sort()
        for e in rd.committed_entries:
            self.apply(e)
        for rs in rd.read_states:
            if rs.context in self.pending_reads:
                self.waiting_reads.append((rs.index, rs.context))
        for ctx in rd.dropped_reads:
            p = self.pending_reads.pop(ctx, None)
            if p is not None:
                self.sim.reply(self.id, p[0], p[1], ("retry", self.raft.lead))
        self.serve_reads()
        self.raft.advance()
        self.syncing = None
        self.maybe_snapshot()
        if self.sim.quick_crash():
            # crash right after a Ready: catches state that was acted on but not kept
            self.crash()
            self.sim.at(self.sim.now + self.sim.rng.uniform(1, 30), self.sim._restart, self)
            return
        self.kick()

    def apply(self, e: Entry) -> None:
        self.sim.observe_apply(self, e)
        if e.type != EntryType.NORMAL or not e.data:
            self.store.apply(e.index, b"")
            return
        res = self.store.apply(e.index, e.data)
        env = msgpack.unpackb(e.data)
        key = (env["client"], env["seq"])
        target = self.pending_writes.pop(key, None)
        if target is not None:
            self.sim.reply(self.id, target[0], target[1], ("ok", res))
        self.since_snapshot += 1

    def serve_reads(self) -> None:
        if not self.waiting_reads:
            return
        applied = self.store.applied_index
        keep = []
        for idx, ctx in self.waiting_reads:
            p = self.pending_reads.get(ctx)
            if p is None:
                continue
            if idx <= applied:
                del self.pending_reads[ctx]
                self.sim.reply(self.id, p[0], p[1], ("ok", self.store.execute(p[2])))
            else:
                keep.append((idx, ctx))
        self.waiting_reads = keep

    def maybe_snapshot(self) -> None:
        if self.since_snapshot < self.sim.cfg.snapshot_every:
            return
        self.since_snapshot = 0
        idx = self.store.applied_index
        if idx <= self.raft.log.snap_index:
            return
        snap = self.raft.create_snapshot(idx, self.store.snapshot())
        self.disk.save_snapshot(snap)

    # ---- client requests ----------------------------------------------------
    def on_request(self, inc: int, client: int, tag: tuple, seq: int, req: dict) -> None:
        if inc != self.incarnation or not self.alive:
            return
        if req["op"] == "range":
            self.read_seq += 1
            ctx = b"%d:%d:%d" % (self.id, self.incarnation, self.read_seq)
            self.pending_reads[ctx] = (client, tag, req)
            self.raft.read_index(ctx)
        else:
            if not self.raft.is_leader:
                self.sim.reply(self.id, client, tag, ("retry", self.raft.lead))
                return
            data = encode_entry(req, str(client), seq)
            try:
                self.raft.propose(data)
            except ProposalDropped as e:
                self.sim.reply(self.id, client, tag, ("retry", e.leader))
                return
            self.pending_writes[(str(client), seq)] = (client, tag)
        self.kick()


@dataclass
class ClientOp:
    kind: str
    key: bytes
    req: dict
    model_input: tuple
    call: float
    seq: int
    opno: int = 0
    attempt: int = 0
    done: bool = False

    def tag(self) -> tuple[int, int]:
        """Identifies one attempt of one op, so stale replies are ignored."""
        return (self.opno, self.attempt)


class SimClient:
    def __init__(self, sim: "Simulation", cid: int) -> None:
        self.sim = sim
        self.id = cid
        self.seq = 0
        self.leader = 0
        self.op: ClientOp | None = None
        self.last_seen: dict[bytes, bytes | None] = {}
        self.remaining = 0
        self.opno = 0
        self.finished = False

    def next_op(self) -> None:
        sim = self.sim
        if self.remaining <= 0:
            if not self.finished:
                self.finished = True
                sim.busy_clients -= 1
            self.op = None
            return
        self.remaining -= 1
        r = sim.rng
        key = b"k%d" % r.randrange(sim.cfg.keys)
        x = r.random()
        if x < 0.35:
            kind = "get"
            req = {"op": "range", "key": key}
            mi: tuple = ("get", key)
        elif x < 0.70:
            self.seq += 1
            val = b"%d.%d" % (self.id, self.seq)
            kind, req, mi = "put", {"op": "put", "key": key, "value": val}, ("put", key, val)
        elif x < 0.80:
            self.seq += 1
            kind, req, mi = "delete", {"op": "delete_range", "key": key}, ("delete", key)
        else:
            self.seq += 1
            exp = self.last_seen.get(key) if r.random() < 0.7 else b"%d.%d" % (r.randrange(1, 9), r.randrange(50))
            new = b"%d.%d" % (self.id, self.seq)
            cmp = ({"key": key, "target": "version", "result": "=", "value": 0} if exp is None
                   else {"key": key, "target": "value", "result": "=", "value": exp})
            kind = "cas"
            req = {"op": "txn", "compare": [cmp], "success": [{"op": "put", "key": key, "value": new}],
                   "failure": []}
            mi = ("cas", key, exp, new)
        self.opno += 1
        self.op = ClientOp(kind, key, req, mi, sim.now, self.seq, self.opno)
        self.send(self.leader or r.randrange(1, sim.cfg.nodes + 1))
        sim.at(sim.now + sim.cfg.op_timeout_ms, self.on_op_timeout, self.op)

    def send(self, node: int) -> None:
        op = self.op
        assert op is not None
        op.attempt += 1
        sim = self.sim
        if op.kind == "get" and sim.rng.random() < 0.25:
            node = sim.rng.randrange(1, sim.cfg.nodes + 1)  # follower reads via ReadIndex
        sim.deliver_request(node, self.id, op.tag(), op.seq, op.req)
        sim.at(sim.now + sim.cfg.attempt_timeout_ms, self.on_attempt_timeout, op, op.attempt)

    def on_attempt_timeout(self, op: ClientOp, attempt: int) -> None:
        if op.done or op is not self.op or op.attempt != attempt:
            return
        self.leader = 0
        self.send(self.sim.rng.randrange(1, self.sim.cfg.nodes + 1))

    def on_op_timeout(self, op: ClientOp) -> None:
        if op.done or op is not self.op:
            return
        op.done = True
        self.sim.record(self.id, op, None, math.inf)
        self.next_op()

    def on_reply(self, node: int, tag: tuple[int, int], reply: tuple) -> None:
        op = self.op
        status, body = reply
        # a result from any attempt of this op counts; a redirect only from the latest
        if op is None or op.done or tag[0] != op.opno or (status == "retry" and tag != op.tag()):
            return
        attempt = op.attempt
        if status == "retry":
            self.leader = body or 0
            target = body or self.sim.rng.randrange(1, self.sim.cfg.nodes + 1)
            self.sim.at(self.sim.now + 5.0, self._resend, op, attempt, target)
            return
        if "error" in body:
            raise AssertionError(f"store error for {op.req}: {body['error']}")
        self.leader = node if op.kind != "get" else self.leader
        op.done = True
        if op.kind == "get":
            out: Any = body["kvs"][0]["value"] if body["kvs"] else None
            self.last_seen[op.key] = out
        elif op.kind == "put":
            out = None
            self.sim.acked_puts.append((op.key, op.req["value"], body["revision"]))
        elif op.kind == "delete":
            out = body["deleted"]
        else:
            out = body["succeeded"]
        self.sim.record(self.id, op, out, self.sim.now)
        self.next_op()

    def _resend(self, op: ClientOp, attempt: int, target: int) -> None:
        if not op.done and op is self.op and op.attempt == attempt:
            self.send(target)


class Simulation:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        # small appends split a catch-up into many messages: more interleavings
        self.max_msg_bytes = self.rng.choice((200, 1024, 16 * 1024))
        # both election modes must be safe; without PreVote split votes are common
        self.pre_vote = self.rng.random() < 0.6
        self.check_quorum = self.rng.random() < 0.7
        self.now = 0.0
        self._events: list = []
        self._eseq = 0
        self.stats = Stats()
        self.violations: list[str] = []
        self.blocked: set[tuple[int, int]] = set()
        self.faults_on = True
        self.nodes = {i: SimNode(self, i) for i in range(1, cfg.nodes + 1)}
        self.clients = [SimClient(self, 1000 + i) for i in range(cfg.clients)]
        self.history: list[Operation] = []
        self.busy_clients = 0
        self.acked_puts: list[tuple[bytes, bytes, int]] = []
        # safety bookkeeping
        self.leader_of_term: dict[int, int] = {}
        self.applied: dict[int, tuple[int, int, bytes]] = {}   # index -> (term, type, data)

    # ---- event loop ---------------------------------------------------------
    def at(self, t: float, fn: Callable, *args: Any) -> None:
        self._eseq += 1
        heapq.heappush(self._events, (t, self._eseq, fn, args))

    def run_until(self, pred: Callable[[], bool], deadline: float) -> bool:
        ev = self._events
        while ev:
            if pred():
                return True
            t, _, fn, args = heapq.heappop(ev)
            if t > deadline:
                heapq.heappush(ev, (t, 0, fn, args))
                return pred()
            self.now = t
            fn(*args)
            if self.violations:
                return False
        return pred()

    # ---- network ------------------------------------------------------------
    def _latency(self) -> float:
        lat = self.rng.uniform(0.5, 3.0)
        if self.faults_on and "delay" in self.cfg.faults and self.rng.random() < 0.05:
            lat += self.rng.uniform(10, 80)  # a slow path: reorders messages
        return lat

    def send(self, frm: int, msgs: list[Message]) -> None:
        by_dest: dict[int, list[Message]] = {}
        for m in msgs:
            by_dest.setdefault(m.to, []).append(m)
            if m.type == MsgType.SNAP:
                self.stats.snapshots_sent += 1
        f = self.cfg.faults if self.faults_on else ()
        for to, batch in by_dest.items():
            self.stats.messages += len(batch)
            if (frm, to) in self.blocked:
                continue
            if "drop" in f and self.rng.random() < 0.03:
                continue
            self.at(self.now + self._latency(), self._deliver, frm, to, batch)
            if "dup" in f and self.rng.random() < 0.02:
                self.at(self.now + self._latency(), self._deliver, frm, to, batch)

    def _deliver(self, frm: int, to: int, batch: list[Message]) -> None:
        node = self.nodes[to]
        if not node.alive or (frm, to) in self.blocked:
            return
        for m in batch:
            node.raft.step(m)
        node.kick()

    def deliver_request(self, node: int, client: int, tag: tuple, seq: int, req: dict) -> None:
        n = self.nodes[node]
        self.at(self.now + self._latency(), n.on_request, n.incarnation, client, tag, seq, req)

    def reply(self, node: int, client: int, tag: tuple, reply: tuple) -> None:
        c = self.clients[client - 1000]
        self.at(self.now + self._latency(), c.on_reply, node, tag, reply)

    # ---- history ------------------------------------------------------------
    def record(self, cid: int, op: ClientOp, out: Any, ret: float) -> None:
        self.stats.ops += 1
        if ret == math.inf:
            self.stats.unknown_ops += 1
        else:
            self.stats.ok_ops += 1
        self.history.append(Operation(cid, op.model_input, out, op.call, ret))

    # ---- safety checks on the fly -------------------------------------------
    def violation(self, msg: str) -> None:
        self.violations.append(f"t={self.now:.1f}ms: {msg}")

    def observe_ready(self, node: SimNode, rd: Ready) -> None:
        raft = node.raft
        if rd.state == StateType.LEADER:
            term = raft.term
            other = self.leader_of_term.setdefault(term, node.id)
            if other != node.id:
                self.violation(f"election safety: nodes {other} and {node.id} both lead term {term}")
            if node.leader_term != term:
                self.stats.elections += 1
                node.leader_term = term
                node.leader_last = 0
                self._check_leader_completeness(node)
            if rd.entries:
                if rd.entries[0].index <= node.leader_last:
                    self.violation(f"leader append-only: node {node.id} rewrote index "
                                   f"{rd.entries[0].index} in term {term}")
                node.leader_last = rd.entries[-1].index
        elif node.leader_term == raft.term and rd.entries and rd.entries[0].index <= node.leader_last:
            # deposed in the same term, then overwritten: would break append-only too
            self.violation(f"leader append-only: node {node.id} rewrote its own term {raft.term}")

    def _check_leader_completeness(self, node: SimNode) -> None:
        log = node.raft.log
        for idx, (term, _, _) in self.applied.items():
            if idx <= log.snap_index:
                continue
            if log.term(idx) != term:
                self.violation(f"leader completeness: node {node.id} leads term {node.raft.term} "
                               f"without committed entry {idx} (term {term})")
                return

    def observe_apply(self, node: SimNode, e: Entry) -> None:
        prev = self.applied.get(e.index)
        rec = (e.term, int(e.type), e.data)
        if prev is None:
            self.applied[e.index] = rec
        elif prev != rec:
            self.violation(f"state machine safety: node {node.id} applied a different entry at {e.index}")

    # ---- faults -------------------------------------------------------------
    def _fault_loop(self) -> None:
        if not self.faults_on:
            return
        r = self.rng
        f = self.cfg.faults
        choices = [x for x in ("partition", "crash", "transfer") if x in f]
        if choices:
            kind = r.choice(choices)
            ids = list(self.nodes)
            if kind == "partition" and not self.blocked:
                self.stats.partitions += 1
                r.shuffle(ids)
                cut = r.randrange(1, len(ids))
                a, b = ids[:cut], ids[cut:]
                one_way = r.random() < 0.3
                for x in a:
                    for y in b:
                        self.blocked.add((x, y))
                        if not one_way:
                            self.blocked.add((y, x))
                self.at(self.now + r.uniform(100, 800), self.blocked.clear)
            elif kind == "crash":
                alive = [n for n in self.nodes.values() if n.alive]
                if alive:
                    n = r.choice(alive)
                    self.stats.crashes += 1
                    n.crash()
                    self.at(self.now + r.uniform(20, 600), self._restart, n)
            elif kind == "transfer":
                leaders = [n for n in self.nodes.values() if n.alive and n.raft.is_leader]
                if leaders:
                    self.stats.transfers += 1
                    leaders[0].raft.transfer_leadership(r.randrange(1, self.cfg.nodes + 1))
                    leaders[0].kick()
        self.at(self.now + r.uniform(50, 400), self._fault_loop)

    def quick_crash(self) -> bool:
        if self.faults_on and "crash" in self.cfg.faults and self.rng.random() < 0.002:
            self.stats.crashes += 1
            return True
        return False

    def _restart(self, n: SimNode) -> None:
        if not n.alive:
            n.start()

    # ---- the run ------------------------------------------------------------
    def run(self) -> list[str]:
        cfg = self.cfg
        per = cfg.ops // cfg.clients
        for i, c in enumerate(self.clients):
            c.remaining = per + (1 if i < cfg.ops % cfg.clients else 0)
            self.busy_clients += 1
            self.at(self.rng.uniform(0, 50), c.next_op)
        if cfg.faults - {"drop", "dup", "delay"}:
            self.at(self.rng.uniform(100, 300), self._fault_loop)
        done = self.run_until(lambda: self.busy_clients == 0, cfg.max_time_ms)
        if not done and not self.violations:
            self.violation("clients did not finish within the time limit")
        if not self.violations:
            self._settle()
        if not self.violations:
            self._final_checks()
        self.stats.sim_ms = self.now
        return self.violations

    def _settle(self) -> None:
        """Stop faults, heal, restart everyone; the cluster must converge."""
        self.faults_on = False
        self.blocked.clear()
        for n in self.nodes.values():
            if not n.alive:
                n.start()

        def converged() -> bool:
            leaders = [n for n in self.nodes.values() if n.raft.is_leader]
            if len(leaders) != 1:
                return False
            target = leaders[0].raft.log.last_index()
            return all(n.store.applied_index == target and n.raft.log.committed == target
                       for n in self.nodes.values())
        if not self.run_until(converged, self.now + self.cfg.settle_ms):
            self.violation("liveness: cluster did not converge after faults stopped: " + ", ".join(
                f"n{n.id}(state={n.raft.state.name},term={n.raft.term},commit={n.raft.log.committed},"
                f"applied={n.store.applied_index})" for n in self.nodes.values()))
            return
        # final linearizable reads of every key, through the normal client path
        for c in self.clients[:1]:
            c.remaining = 0
        keys = [b"k%d" % i for i in range(self.cfg.keys)]
        c = self.clients[0]
        for k in keys:
            c.opno += 1
            c.op = ClientOp("get", k, {"op": "range", "key": k}, ("get", k), self.now, c.seq, c.opno)
            c.send(c.leader or 1)
            self.run_until(lambda: c.op is None or c.op.done, self.now + self.cfg.settle_ms)
            if c.op is not None and not c.op.done:
                self.violation(f"liveness: final read of {k!r} did not complete")
                return
            c.op = None

    def _final_checks(self) -> None:
        nodes = list(self.nodes.values())
        # log matching: same (index, term) => same entry and same prefix
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                self._check_log_matching(a, b)
        # replicas identical
        hashes = {n.id: n.store.state_hash() for n in nodes}
        if len(set(hashes.values())) != 1:
            self.violation(f"replicas differ after convergence: {hashes}")
        # every acknowledged write is in every replica's history
        for n in nodes:
            for key, val, rev in self.acked_puts:
                got = n.store.execute({"op": "range", "key": key, "revision": rev})
                kvs = got.get("kvs") if isinstance(got, dict) else None
                if not kvs or kvs[0]["value"] != val or kvs[0]["mod_revision"] != rev:
                    self.violation(f"acknowledged write lost on node {n.id}: {key!r}={val!r} at revision {rev}")
                    return
        res = check(self.history, KVModel(), timeout=60.0)
        if res.ok is False:
            self.violation("history is not linearizable:\n" + res.explain())
        elif res.ok is None:
            self.violation("linearizability check timed out")

    def _check_log_matching(self, a: SimNode, b: SimNode) -> None:
        la, lb = a.raft.log, b.raft.log
        lo = max(la.snap_index, lb.snap_index) + 1
        hi = min(la.last_index(), lb.last_index())
        for idx in range(hi, lo - 1, -1):
            if la.term(idx) == lb.term(idx):
                for j in range(lo, idx + 1):
                    ea, eb = la.entries[j - la.snap_index - 1], lb.entries[j - lb.snap_index - 1]
                    if (ea.term, ea.type, ea.data) != (eb.term, eb.type, eb.data):
                        self.violation(f"log matching: nodes {a.id},{b.id} agree at {idx} but differ at {j}")
                        return
                return


def run_seed(cfg: SimConfig) -> tuple[list[str], Stats]:
    sim = Simulation(cfg)
    violations = sim.run()
    return violations, sim.stats


def replay_command(cfg: SimConfig) -> str:
    faults = "all" if cfg.faults == frozenset(FAULTS) else (",".join(sorted(cfg.faults)) or "none")
    return (f"python -m raftstore.sim --seed {cfg.seed} --nodes {cfg.nodes} --ops {cfg.ops} "
            f"--faults {faults} -v")


def parse_faults(s: str) -> frozenset[str]:
    if s == "all":
        return frozenset(FAULTS)
    if s in ("none", ""):
        return frozenset()
    fs = frozenset(x.strip() for x in s.split(","))
    bad = fs - set(FAULTS)
    if bad:
        raise argparse.ArgumentTypeError(f"unknown fault(s) {sorted(bad)}; choose from {', '.join(FAULTS)}, all, none")
    return fs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m raftstore.sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="number of seeded runs")
    ap.add_argument("--seed", type=int, default=None, help="run just this seed (replay)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    ap.add_argument("--ops", type=int, default=500, help="client operations per run")
    ap.add_argument("--faults", type=parse_faults, default=frozenset(FAULTS),
                    help="all, none, or a comma list of " + ",".join(FAULTS))
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    if a.seeds < 1 or a.ops < 1:
        ap.error("--seeds and --ops must be positive")
    seeds = [a.seed] if a.seed is not None else list(range(a.first_seed, a.first_seed + a.seeds))
    total = Stats()
    bad: list[tuple[SimConfig, list[str]]] = []
    t0 = time.perf_counter()
    for s in seeds:
        cfg = SimConfig(seed=s, nodes=a.nodes, ops=a.ops, faults=a.faults, verbose=a.verbose)
        violations, st = run_seed(cfg)
        total.add(st)
        if a.verbose:
            print(f"seed {s}: {st.ops} ops ({st.unknown_ops} unknown), {st.elections} elections, "
                  f"{st.crashes} crashes, {st.partitions} partitions, {st.snapshots_sent} snapshots, "
                  f"{st.sim_ms / 1000:.1f}s simulated: {'OK' if not violations else 'VIOLATION'}")
        if violations:
            bad.append((cfg, violations))
            print(f"VIOLATION seed {s}: {violations[0]}", file=sys.stderr)
            print(f"  replay: {replay_command(cfg)}", file=sys.stderr)
    dt = time.perf_counter() - t0
    print(f"{len(seeds)} seeds, {len(bad)} violations "
          f"({a.nodes} nodes, faults {','.join(sorted(a.faults)) or 'none'})")
    print(f"checked: {total.ops} ops ({total.ok_ops} acknowledged, {total.unknown_ops} unknown outcome) "
          f"linearizable; {total.elections} elections, {total.crashes} crashes, "
          f"{total.partitions} partitions, {total.transfers} transfers, "
          f"{total.snapshots_sent} snapshots sent, {total.messages} messages")
    print(f"safety: election safety, leader append-only, log matching, leader completeness, "
          f"state machine safety, acknowledged writes durable, replicas identical")
    print(f"speed: {dt:.1f}s wall, {len(seeds) / dt:.2f} seeds/s, {total.ops / dt:.0f} ops/s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
