"""Replica: Raft + WAL + MVCC through the Ready loop, restarted from disk."""
from __future__ import annotations

import pytest

from raftstore.raft import Config
from raftstore.raftpb import Message
from raftstore.replica import Completion, MemoryStorage, Replica
from raftstore.wal import WAL

IDS = (1, 2, 3)


class Cluster:
    """Three replicas on real WALs, messages delivered in order, in memory."""

    def __init__(self, root, snapshot_every: int = 10_000) -> None:
        self.root = root
        self.snapshot_every = snapshot_every
        self.wals: dict[int, WAL] = {}
        self.reps: dict[int, Replica] = {}
        self.down: set[int] = set()
        self.inbox: list[Message] = []
        self.done: list[Completion] = []
        for i in IDS:
            self.start(i)

    def start(self, i: int) -> None:
        self.wals[i] = WAL.open(str(self.root / f"m{i}"), b"member-%d" % i, segment_bytes=4096)
        self.reps[i] = Replica(Config(i, peers=IDS, seed=i), self.wals[i],
                               snapshot_every=self.snapshot_every)
        self.down.discard(i)

    def crash(self, i: int) -> None:
        self.wals[i].close()
        self.down.add(i)

    def pump(self, rounds: int = 200) -> None:
        for _ in range(rounds):
            busy = False
            for i, r in self.reps.items():
                if i in self.down:
                    continue
                rd = r.ready()
                if rd is None:
                    continue
                busy = True
                r.persist(rd)
                self.inbox.extend(rd.messages)
                self.done.extend(r.apply(rd))
            msgs, self.inbox = self.inbox, []
            for m in msgs:
                if m.to not in self.down:
                    self.reps[m.to].raft.step(m)
                    busy = True
            if not busy:
                return
        raise AssertionError("cluster did not quiesce")

    def elect(self, i: int) -> None:
        self.reps[i].raft.campaign()
        self.pump()
        assert self.reps[i].is_leader

    def put(self, leader: int, key: bytes, value: bytes, seq: int) -> Completion:
        n = len(self.done)
        assert self.reps[leader].propose({"op": "put", "key": key, "value": value}, "c", seq, seq) is None
        self.pump()
        got = [c for c in self.done[n:] if c.token == seq]
        assert len(got) == 1
        return got[0]


def test_writes_reads_and_restart_from_wal(tmp_path):
    c = Cluster(tmp_path)
    c.elect(1)
    revs = [c.put(1, b"k%d" % i, b"v%d" % i, i + 1).result["revision"] for i in range(20)]
    assert revs == list(range(2, 22))
    # linearizable read on a follower goes through ReadIndex
    c.reps[2].read({"op": "range", "key": b"k7"}, "r1")
    c.pump()
    (r,) = [x for x in c.done if x.token == "r1"]
    assert r.result["kvs"][0]["value"] == b"v7"
    # every member restarts from its WAL alone with the same state
    before = {i: c.reps[i].store.state_hash() for i in IDS}
    assert len(set(before.values())) == 1
    for i in IDS:
        c.crash(i)
    for i in IDS:
        c.start(i)
    c.elect(2)
    c.pump()
    assert {i: c.reps[i].store.state_hash() for i in IDS} != before  # the new leader's no-op
    assert len({c.reps[i].store.state_hash() for i in IDS}) == 1
    for i in IDS:
        assert c.reps[i].store.range(b"k19")["kvs"][0]["value"] == b"v19"
    # a retried write with the same (client, seq) is answered, not applied again
    again = c.put(2, b"k19", b"v19", 20)
    assert again.result["revision"] == revs[-1]
    assert c.reps[3].store.revision == revs[-1]


def test_lagging_member_catches_up_by_snapshot_and_restarts_from_it(tmp_path):
    c = Cluster(tmp_path, snapshot_every=10)
    c.elect(1)
    c.crash(3)
    for i in range(35):
        c.put(1, b"k%d" % (i % 5), b"v%d" % i, i + 1)
    assert c.reps[1].raft.log.snap_index > 0  # the leader compacted its log
    c.start(3)
    c.reps[1].raft.tick()  # heartbeat: the leader finds member 3 behind
    c.pump()
    assert c.wals[3].load_snapshot() is not None
    assert c.reps[3].store.state_hash() == c.reps[1].store.state_hash()
    c.crash(3)
    c.start(3)
    assert c.reps[3].store.applied_index == c.wals[3].load_snapshot().meta.index
    c.pump()  # replays the committed entries after the snapshot
    assert c.reps[3].store.range(b"k4")["kvs"][0]["value"] == b"v34"
    assert c.reps[3].store.revision == c.reps[1].store.revision


def test_writes_and_reads_on_a_follower_are_redirected(tmp_path):
    c = Cluster(tmp_path)
    c.elect(1)
    done = c.reps[2].propose({"op": "put", "key": b"a", "value": b"b"}, "c", 1, "w")
    assert done == Completion("w", None, 1)


def test_lost_proposal_completes_with_retry():
    """A deposed leader's uncommitted entry is overwritten: its waiter is told to retry."""
    stores = {i: MemoryStorage() for i in IDS}
    reps = {i: Replica(Config(i, peers=IDS, seed=i, check_quorum=False), stores[i]) for i in IDS}
    out: list[Completion] = []

    def pump(alive: set[int]) -> None:
        for _ in range(100):
            moved = False
            for i in alive:
                rd = reps[i].ready()
                if rd is None:
                    continue
                moved = True
                reps[i].persist(rd)
                out.extend(reps[i].apply(rd))
                for m in rd.messages:
                    if m.to in alive:
                        reps[m.to].raft.step(m)
            if not moved:
                return

    reps[1].raft.campaign()
    pump({1, 2, 3})
    assert reps[1].is_leader
    # leader 1 is cut off; its proposal cannot commit
    assert reps[1].propose({"op": "put", "key": b"x", "value": b"old"}, "c", 1, "lost") is None
    pump({1})
    reps[2].raft.campaign()
    pump({2, 3})
    assert reps[2].is_leader
    assert reps[2].propose({"op": "put", "key": b"x", "value": b"new"}, "d", 1, "won") is None
    pump({2, 3})
    pump({1, 2, 3})   # 1 rejoins, its entry at that index is replaced
    reps[2].raft.tick()
    pump({1, 2, 3})
    lost = [c for c in out if c.token == "lost"]
    assert lost == [Completion("lost", None, 2)]
    assert reps[1].store.range(b"x")["kvs"][0]["value"] == b"new"


@pytest.mark.parametrize("storage", ["memory", "wal"])
def test_storage_replaces_log_on_snapshot_from_another_history(tmp_path, storage):
    from raftstore.raftpb import ConfState, Entry, HardState, Snapshot, SnapshotMeta
    s = MemoryStorage() if storage == "memory" else WAL.open(str(tmp_path / "w"))
    s.save(HardState(2, 1, 2), [Entry(1, 1), Entry(1, 2), Entry(2, 3), Entry(2, 4)])
    s.save_snapshot(Snapshot(SnapshotMeta(3, 3, ConfState((1,))), b""))
    if storage == "wal":
        s.close()
        s = WAL.open(str(tmp_path / "w"))
    hs, snap, entries = s.load()
    assert snap.meta.index == 3 and entries == []
