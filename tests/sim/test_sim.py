"""The seeded simulator: many runs with all faults must show no violation,
runs must replay exactly, and the checks must catch real Raft bugs."""
from __future__ import annotations

import subprocess
import sys

import pytest

from raftstore import log as raftlog
from raftstore import raft, sim
from raftstore.sim import FAULTS, SimConfig, Simulation, main, run_seed

pytestmark = pytest.mark.sim

ALL = frozenset(FAULTS)


def _run_many(seeds: range, nodes: int, ops: int = 500) -> tuple[list[str], sim.Stats]:
    total = sim.Stats()
    bad: list[str] = []
    for s in seeds:
        cfg = SimConfig(seed=s, nodes=nodes, ops=ops, faults=ALL)
        v, st = run_seed(cfg)
        total.add(st)
        if v:
            bad.append(f"seed {s}: {v[0]}\n  replay: {sim.replay_command(cfg)}")
    return bad, total


@pytest.mark.slow
def test_200_seeds_three_nodes_all_faults():
    bad, st = _run_many(range(1, 201), nodes=3)
    assert not bad, "\n".join(bad)
    # the faults really happened and the history was really checked
    assert st.ops >= 200 * 500
    assert st.crashes > 200 and st.partitions > 100 and st.elections > 400
    assert st.snapshots_sent > 50 and st.transfers > 100


@pytest.mark.slow
def test_50_seeds_five_nodes_all_faults():
    bad, st = _run_many(range(1001, 1051), nodes=5)
    assert not bad, "\n".join(bad)
    assert st.ops >= 50 * 500 and st.crashes > 50


def test_no_faults_every_op_is_acknowledged():
    v, st = run_seed(SimConfig(seed=3, nodes=3, ops=300, faults=frozenset()))
    assert v == []
    assert st.unknown_ops == 0 and st.ok_ops == st.ops >= 300
    assert st.crashes == 0 and st.partitions == 0


def test_same_seed_replays_identically():
    a = Simulation(SimConfig(seed=42, ops=200))
    b = Simulation(SimConfig(seed=42, ops=200))
    assert a.run() == b.run() == []
    assert a.stats == b.stats
    assert [(o.client_id, o.input, o.output, o.call, o.ret) for o in a.history] == \
           [(o.client_id, o.input, o.output, o.call, o.ret) for o in b.history]
    c = Simulation(SimConfig(seed=43, ops=200))
    c.run()
    assert [o.call for o in c.history] != [o.call for o in a.history]


def _violating_seeds(n: int = 30, nodes: int = 3) -> int:
    return sum(1 for s in range(1, n + 1)
               if run_seed(SimConfig(seed=s, nodes=nodes, ops=300, faults=ALL))[0])


def test_catches_votes_for_stale_logs(monkeypatch):
    """Granting votes without the up-to-date check loses committed entries."""
    monkeypatch.setattr(raftlog.RaftLog, "is_up_to_date", lambda self, i, t: True)
    assert _violating_seeds() > 0


def test_catches_reads_without_read_index(monkeypatch):
    """Serving reads from the local commit index returns stale values."""
    def local_read(self: raft.RaftNode, ctx: bytes) -> None:
        self.read_states.append(raft.ReadState(self.log.committed, ctx))
    monkeypatch.setattr(raft.RaftNode, "read_index", local_read)
    assert _violating_seeds() > 0


def test_catches_acknowledging_before_fsync(monkeypatch):
    """A disk that loses its newest entries on a crash loses acked writes."""
    crash = sim.SimNode.crash

    def lossy_crash(self: sim.SimNode) -> None:
        crash(self)
        self.disk.entries = self.disk.entries[:-3]
    monkeypatch.setattr(sim.SimNode, "crash", lossy_crash)
    assert _violating_seeds() > 0


def test_cli_summary_and_exit_code(capsys):
    assert main(["--seeds", "3", "--ops", "100", "--faults", "all"]) == 0
    out = capsys.readouterr().out
    assert "3 seeds, 0 violations" in out
    assert "linearizable" in out and "elections" in out


def test_cli_reports_failing_seed_with_replay(monkeypatch, capsys):
    monkeypatch.setattr(raftlog.RaftLog, "is_up_to_date", lambda self, i, t: True)
    rc = main(["--seeds", "30", "--ops", "300"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "VIOLATION seed" in cap.err
    assert "replay: python -m raftstore.sim --seed" in cap.err
    assert "0 violations" not in cap.out


def test_cli_rejects_bad_arguments():
    p = subprocess.run([sys.executable, "-m", "raftstore.sim", "--faults", "meteor"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "unknown fault" in p.stderr
    p = subprocess.run([sys.executable, "-m", "raftstore.sim", "--nodes", "4"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "invalid choice" in p.stderr
