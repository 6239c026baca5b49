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
from dataclasses import dataclass
from typing import Any, Callable


from .linearizability import KVModel, Operation, check
from .mvcc import MVCCStore
from .raft import Config, ProposalDropped, Ready, StateType
from .replica import MemoryStorage, Replica
from .raftpb import ConfChange, ConfChangeType, Entry, EntryType, Message, MsgType

FAULTS = ("drop", "dup", "delay", "partition", "crash", "transfer", "member")
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
    conf_changes: int = 0
    elections: int = 0
    snapshots_sent: int = 0
    messages: int = 0
    sim_ms: float = 0.0

    def add(self, o: "Stats") -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(o, k))


class SimNode:
    """The simulator's host for one :class:`Replica`: delays its fsyncs,
    ships its messages over the simulated network and answers clients."""

    def __init__(self, sim: "Simulation", nid: int, peers: tuple[int, ...]) -> None:
        self.sim = sim
        self.id = nid
        self.peers = peers  # founding members bootstrap; joiners pass ()
        self.disk = MemoryStorage()
        self.alive = False
        self.incarnation = 0
        self.start()

    def start(self) -> None:
        sim = self.sim
        self.incarnation += 1
        self.alive = True
        self.replica = Replica(
            Config(self.id, peers=self.peers, election_tick=10,
                   heartbeat_tick=2, max_msg_bytes=sim.max_msg_bytes, max_inflight=32,
                   pre_vote=sim.pre_vote, check_quorum=sim.check_quorum,
                   seed=sim.cfg.seed * 7919 + self.incarnation),
            self.disk, snapshot_every=sim.cfg.snapshot_every)
        self.raft = self.replica.raft
        self.syncing: Ready | None = None
        self.leader_term = -1       # term in which this node last led (append-only check)
        self.leader_last = 0
        sim.at(sim.now + sim.rng.uniform(0, TICK_MS), self.on_tick, self.incarnation)

    @property
    def store(self) -> MVCCStore:
        return self.replica.store

    def crash(self) -> None:
        if self.syncing is not None and self.sim.rng.random() < 0.5:
            self.replica.persist(self.syncing)  # written, but the fsync never returned
        self.alive = False
        self.incarnation += 1
        self.syncing = None

    # ---- driving the replica ----------------------------------------------
    def on_tick(self, inc: int) -> None:
        if inc != self.incarnation:
            return
        self.raft.tick()
        self.kick()
        self.sim.at(self.sim.now + TICK_MS, self.on_tick, inc)

    def kick(self) -> None:
        if self.syncing is not None or not self.alive:
            return
        rd = self.replica.ready()
        if rd is None:
            return
        self.sim.observe_ready(self, rd)
        self.syncing = rd
        if rd.send_before_persist:
            self.sim.send(self.id, rd.messages)
        if rd.must_sync():
            self.sim.at(self.sim.now + self.sim.rng.uniform(0.2, 2.0), self.on_synced, self.incarnation)
        else:
            self.on_synced(self.incarnation)

    def on_synced(self, inc: int) -> None:
        if inc != self.incarnation:
            return
        sim = self.sim
        rd = self.syncing
        assert rd is not None
        self.replica.persist(rd)
        if not rd.send_before_persist:
            sim.send(self.id, rd.messages)
        for e in rd.committed_entries:
            sim.observe_apply(self, e)
            if e.type == EntryType.CONF_CHANGE:
                cc = ConfChange.decode(e.data)
                if cc.type == ConfChangeType.REMOVE_NODE:
                    # as an operator would: stop a member once its removal commits
                    sim.at(sim.now, sim.retire, cc.node_id)
        for c in self.replica.apply(rd):
            client, tag = c.token
            sim.reply(self.id, client, tag, ("ok", c.result) if c.result is not None else ("retry", c.leader))
        self.syncing = None
        if sim.quick_crash():
            # crash right after a Ready: catches state that was acted on but not kept
            self.crash()
            sim.at(sim.now + sim.rng.uniform(1, 30), sim._restart, self)
            return
        self.kick()

    # ---- client requests ----------------------------------------------------
    def on_request(self, inc: int, client: int, tag: tuple, seq: int, req: dict) -> None:
        if inc != self.incarnation or not self.alive:
            return
        if req["op"] == "range":
            self.replica.read(req, (client, tag))
        else:
            c = self.replica.propose(req, str(client), seq, (client, tag))
            if c is not None:
                self.sim.reply(self.id, client, tag, ("retry", c.leader))
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
        self.send(self.leader or sim.random_node())
        sim.at(sim.now + sim.cfg.op_timeout_ms, self.on_op_timeout, self.op)

    def send(self, node: int) -> None:
        op = self.op
        assert op is not None
        op.attempt += 1
        sim = self.sim
        if op.kind == "get" and sim.rng.random() < 0.25:
            node = sim.random_node()  # follower reads via ReadIndex
        sim.deliver_request(node, self.id, op.tag(), op.seq, op.req)
        sim.at(sim.now + sim.cfg.attempt_timeout_ms, self.on_attempt_timeout, op, op.attempt)

    def on_attempt_timeout(self, op: ClientOp, attempt: int) -> None:
        if op.done or op is not self.op or op.attempt != attempt:
            return
        self.leader = 0
        self.send(self.sim.random_node())

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
            target = body or self.sim.random_node()
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
        founders = tuple(range(1, cfg.nodes + 1))
        self.nodes = {i: SimNode(self, i, founders) for i in founders}
        self.next_id = cfg.nodes + 1
        self.joining: int | None = None
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
        node = self.nodes.get(to)
        if node is None or not node.alive or (frm, to) in self.blocked:
            return
        for m in batch:
            node.raft.step(m)
        node.kick()

    def deliver_request(self, node: int, client: int, tag: tuple, seq: int, req: dict) -> None:
        n = self.nodes.get(node)
        if n is not None:
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
        choices = [x for x in ("partition", "crash", "transfer", "member") if x in f]
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
                    leaders[0].raft.transfer_leadership(self.random_node())
                    leaders[0].kick()
            elif kind == "member":
                self._change_membership()
        self.at(self.now + r.uniform(50, 400), self._fault_loop)

    def random_node(self) -> int:
        return self.rng.choice(list(self.nodes))

    def retire(self, nid: int) -> None:
        """Stop a node for good (removed from the cluster, or never joined)."""
        n = self.nodes.pop(nid, None)
        if n is not None:
            n.alive = False
            n.incarnation += 1
            n.syncing = None

    def _change_membership(self) -> None:
        """Grow by a learner, promote it, shrink by a random voter: the
        cluster cycles between ``nodes`` and ``nodes + 1`` voters."""
        leader = next((n for n in self.nodes.values() if n.alive and n.raft.is_leader), None)
        if leader is None:
            return
        raft = leader.raft
        if self.joining is not None and self.joining not in raft.voters | raft.learners:
            self.retire(self.joining)  # its addition was lost
            self.joining = None
        if raft.learners:
            cc = ConfChange(ConfChangeType.ADD_NODE, min(raft.learners))
        elif len(raft.voters) > self.cfg.nodes:
            cc = ConfChange(ConfChangeType.REMOVE_NODE, self.rng.choice(sorted(raft.voters)))
        else:
            cc = ConfChange(ConfChangeType.ADD_LEARNER, self.next_id)
        try:
            raft.propose_conf_change(cc)
        except ProposalDropped:
            return
        self.stats.conf_changes += 1
        if cc.type == ConfChangeType.ADD_LEARNER:
            self.nodes[self.next_id] = SimNode(self, self.next_id, ())
            self.joining = self.next_id
            self.next_id += 1
        leader.kick()

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
            raft = leaders[0].raft
            if raft.pending_conf_index > raft.log.committed:
                return False
            target = raft.log.last_index()
            members = raft.voters | raft.learners
            return all(n.store.applied_index == target and n.raft.log.committed == target
                       for n in self.nodes.values() if n.id in members)
        if not self.run_until(converged, self.now + self.cfg.settle_ms):
            self.violation("liveness: cluster did not converge after faults stopped: " + ", ".join(
                f"n{n.id}(state={n.raft.state.name},term={n.raft.term},commit={n.raft.log.committed},"
                f"applied={n.store.applied_index})" for n in self.nodes.values()))
            return
        leader = next(n for n in self.nodes.values() if n.raft.is_leader)
        for nid in list(self.nodes):
            if nid not in leader.raft.voters | leader.raft.learners:
                self.retire(nid)
        # final linearizable reads of every key, through the normal client path
        for c in self.clients[:1]:
            c.remaining = 0
        keys = [b"k%d" % i for i in range(self.cfg.keys)]
        c = self.clients[0]
        for k in keys:
            c.opno += 1
            c.op = ClientOp("get", k, {"op": "range", "key": k}, ("get", k), self.now, c.seq, c.opno)
            c.send(c.leader or self.random_node())
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
                  f"{st.crashes} crashes, {st.partitions} partitions, {st.conf_changes} conf changes, "
                  f"{st.snapshots_sent} snapshots, "
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
          f"{total.conf_changes} membership changes, "
          f"{total.snapshots_sent} snapshots sent, {total.messages} messages")
    print("safety: election safety, leader append-only, log matching, leader completeness, "
          "state machine safety, acknowledged writes durable, replicas identical")
    print(f"speed: {dt:.1f}s wall, {len(seeds) / dt:.2f} seeds/s, {total.ops / dt:.0f} ops/s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
