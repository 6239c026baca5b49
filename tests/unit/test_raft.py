"""Unit tests for raftstore.raft: the Raft paper's scenarios and etcd's classics.

Most tests drive a small cluster through ``raft_net.Network``, which runs every
node's Ready/advance loop, delivers messages in order and checks safety on the
way (one leader per term, no two different entries applied at one index).
Everything is deterministic: fixed seeds, logical ticks, FIFO delivery.
"""
from __future__ import annotations

import pytest

try:
    from .raft_net import Network, decode_records
except ImportError:  # collected without the package __init__
    from raft_net import Network, decode_records
from raftstore.raft import (
    CAMPAIGN_TRANSFER, Config, NotLeader, ProgressState, ProposalDropped, RaftNode, StateType,
)
from raftstore.raftpb import (
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MsgType,
    ReadState, Snapshot, SnapshotMeta,
)

ET = 10  # election_tick used throughout


def of_type(msgs, mtype, to=None):
    return [m for m in msgs if m.type == mtype and (to is None or m.to == to)]


def add_node(nid):
    return ConfChange(ConfChangeType.ADD_NODE, nid)


def add_learner(nid):
    return ConfChange(ConfChangeType.ADD_LEARNER, nid)


def remove_node(nid):
    return ConfChange(ConfChangeType.REMOVE_NODE, nid)


def boot(net):
    """Index of the last entry a freshly started member logs by itself (its
    membership bootstrap, if any): the first election's no-op follows it."""
    return net.node(min(net.members)).log.last_index()


def members_prefix(voters, learners=()):
    """Log entries that establish a membership: committed conf changes of term 1."""
    ccs = [add_node(n) for n in sorted(voters)] + [add_learner(n) for n in sorted(learners)]
    return [Entry(1, i, EntryType.CONF_CHANGE, cc.encode()) for i, cc in enumerate(ccs, 1)]


def other_leader(net, old):
    """A leader other than ``old`` (which may still believe it leads), or None."""
    others = [n for n in net.leaders() if n != old]
    return others[0] if others else None


# ============================================================================
# leader election
# ============================================================================
def test_randomized_election_timeout_is_in_range():
    gaps_seen = set()
    for seed in range(12):
        for nid in (1, 2, 3):
            node = RaftNode(Config(nid, peers=(1, 2, 3), election_tick=ET, seed=seed))
            term0 = node.term
            fired = []
            for t in range(1, 8 * ET):
                node.tick()
                if node.has_ready():
                    rd = node.ready()
                    if of_type(rd.messages, MsgType.PRE_VOTE):
                        fired.append(t)
                    node.advance()
            assert len(fired) >= 4
            gaps = [fired[0]] + [b - a for a, b in zip(fired, fired[1:])]
            assert all(ET <= g < 2 * ET for g in gaps), gaps
            gaps_seen.update(gaps)
            assert node.term == term0  # pre-campaigns never raise the term
    assert len(gaps_seen) >= 5  # timeouts really are randomized


@pytest.mark.parametrize("n", [3, 5])
def test_leader_elected_by_timeout(n):
    ids = tuple(range(1, n + 1))
    net = Network(ids, seed=7)
    ticks = net.tick_until(lambda: net.leader() is not None, limit=4 * ET)
    assert ticks >= ET  # nobody campaigns before the minimum election timeout
    lid = net.leader()
    net.tick(3)
    assert net.leaders() == [lid]
    leader = net.node(lid)
    noop = leader.log.entries[-1]
    assert noop.term == leader.term and noop.data == b"" and noop.type == EntryType.NORMAL
    for i in ids:
        node = net.node(i)
        assert node.term == leader.term
        assert node.lead == lid
        assert node.log.committed == noop.index
        assert net.entries(i) == net.entries(lid)


def test_campaign_elects_candidate_and_commits_its_noop():
    net = Network((1, 2, 3))
    b, term0 = boot(net), net.node(1).term
    n2 = net.elect(2)
    assert n2.term == term0 + 1
    for i in (1, 2, 3):
        node = net.node(i)
        assert node.lead == 2 and node.term == term0 + 1
        assert net.entries(i)[b:] == [(b + 1, term0 + 1, b"")]
        assert net.entries(i) == net.entries(2)
        assert node.log.committed == b + 1
    assert net.node(1).vote == 2 and net.node(3).vote == 2


def test_single_node_cluster_elects_itself_and_commits():
    net = Network((1,))
    n1 = net.node(1)
    b, term0 = boot(net), n1.term
    ticks = net.tick_until(lambda: n1.is_leader, limit=2 * ET)
    assert ET <= ticks < 2 * ET
    assert n1.term == term0 + 1
    net.propose(1, b"a", b"b")
    net.stabilize()
    assert net.members[1].data() == [b"a", b"b"]
    assert n1.log.committed == b + 3 and n1.log.applied == b + 3
    n1.read_index(b"r")
    net.stabilize()
    assert net.members[1].read_states == [ReadState(b + 3, b"r")]


def test_dueling_candidates_split_the_vote_then_one_leader_emerges():
    net = Network((1, 2, 3, 4), pre_vote=False, seed=3)
    n = net.node
    term0 = n(1).term
    # 1 can reach 2 and 3, candidate 3 can reach 1 and 4
    net.cut(1, 4)
    net.cut(3, 2)
    n(1).campaign()
    n(3).campaign()
    net.stabilize()
    assert n(1).state == StateType.CANDIDATE and n(3).state == StateType.CANDIDATE
    assert n(1).term == n(3).term == term0 + 1
    assert n(2).vote == 1 and n(4).vote == 3
    assert n(1).votes == {1: True, 2: True, 3: False}
    assert n(3).votes == {3: True, 4: True, 1: False}
    assert net.leader() is None  # 2 votes of 4 win nothing
    net.heal()
    net.tick_until(lambda: net.leader() is not None, limit=10 * ET)
    lid = net.leader()
    term = n(lid).term
    assert term >= term0 + 2
    net.tick(3)
    assert net.leaders() == [lid]
    assert all(n(i).term == term and n(i).lead == lid for i in (1, 2, 3, 4))
    assert term0 + 1 not in net.leaders_by_term  # the split term never had a leader


@pytest.mark.parametrize("seed", range(8))
def test_randomized_timeouts_keep_electing_exactly_one_leader(seed):
    net = Network(range(1, 6), seed=seed, pre_vote=False)
    terms = []
    for _ in range(3):
        net.tick_until(lambda: net.leader() is not None, limit=10 * ET)
        lid = net.leader()
        net.tick(2)
        alive = net.alive_ids()
        assert net.leaders() == [lid]
        assert all(net.node(i).lead == lid and net.node(i).term == net.node(lid).term
                   for i in alive)
        terms.append(net.node(lid).term)
        net.crash(lid)
    assert terms == sorted(set(terms))
    # the network asserted on every step that no term ever had two leaders
    assert len(net.leaders_by_term) == 3


def test_candidate_with_stale_log_cannot_win():
    net = Network((1, 2, 3), pre_vote=False, check_quorum=False, seed=4)
    b = boot(net)
    net.elect(1)
    net.isolate(3)
    net.propose(1, b"a", b"b")
    net.stabilize()
    assert net.node(2).log.committed == b + 3 and net.node(3).log.last_index() == b + 1
    net.crash(1)
    net.heal()
    n2, n3 = net.node(2), net.node(3)
    n3.campaign()
    net.stabilize()
    assert not n3.is_leader
    assert n2.term == n3.term  # 2 took the new term...
    assert n2.vote != 3       # ...but refused its vote
    resp = of_type(net.sent, MsgType.VOTE_RESP, to=3)
    assert resp and resp[-1].frm == 2 and resp[-1].reject
    # only 2 can win now, and it repairs 3
    net.tick_until(lambda: net.leader() is not None, limit=10 * ET)
    assert net.leader() == 2
    net.stabilize()
    assert net.members[3].data() == [b"a", b"b"]


@pytest.mark.parametrize("mtype", [MsgType.VOTE, MsgType.PRE_VOTE])
@pytest.mark.parametrize("last_term,last_index,granted", [
    (3, 1, True),    # a higher last term wins even with a shorter log
    (2, 3, True),    # same last entry
    (2, 4, True),    # same last term, longer log
    (2, 2, False),   # same last term, shorter log
    (1, 9, False),   # lower last term loses even with a longer log
    (1, 3, False),   # (last_index is counted after the membership entries)
])
def test_vote_granted_only_to_up_to_date_log(mtype, last_term, last_index, granted):
    # voter log: its membership, then terms [1, 2, 2]: the last entry is (b + 3, term 2)
    prefix = members_prefix((1, 2, 3))
    b = len(prefix)
    node = RaftNode(Config(1, peers=(1, 2, 3)), hard_state=HardState(term=2, commit=b),
                    entries=prefix + [Entry(1, b + 1), Entry(2, b + 2), Entry(2, b + 3)])
    node.step(Message(mtype, to=1, frm=2, term=3, log_term=last_term, index=b + last_index))
    rd = node.ready()
    resp_type = MsgType.VOTE_RESP if mtype == MsgType.VOTE else MsgType.PRE_VOTE_RESP
    resp = of_type(rd.messages, resp_type)
    assert len(resp) == 1 and resp[0].to == 2
    assert resp[0].reject == (not granted)
    if mtype == MsgType.VOTE:
        assert node.term == 3  # a higher-term request moves the term either way
        assert node.vote == (2 if granted else 0)
    else:
        assert node.term == 2 and node.vote == 0  # a pre-vote changes nothing


def test_propose_on_follower_raises_not_leader_with_hint():
    net = Network((1, 2, 3))
    with pytest.raises(NotLeader) as ei:
        net.node(2).propose(b"x")
    assert ei.value.leader == 0
    net.elect(1)
    with pytest.raises(NotLeader) as ei:
        net.node(2).propose(b"x")
    assert ei.value.leader == 1
    assert isinstance(ei.value, ProposalDropped)
    with pytest.raises(NotLeader):
        net.node(3).propose_conf_change(add_learner(4))


# ============================================================================
# Figure 8: commit only by counting replicas of current-term entries
# ============================================================================
def figure8_setup():
    """Five servers, built step by step as in Figure 8 of the Raft paper:
    S1 (leading in term t0+3) has its old term-(t0+1) entry x at index b+2
    stored on S1..S4 and acknowledged by S3 and S4, while its own no-op
    (index b+3) reached only S2. S5 holds a different b+2 (term t0+2) and is
    down. Returns (net, b, t0): b = entries logged at boot, t0 = boot term."""
    net = Network(range(1, 6), pre_vote=False, check_quorum=False, max_msg_bytes=1, seed=8)
    n = net.node
    b, t0 = boot(net), n(1).term
    x = b + 2
    net.elect(1)  # term t0+1, its no-op at b+1 committed everywhere
    assert all(n(i).log.committed == b + 1 for i in range(1, 6))
    # (a) S1 replicates x (index b+2, term t0+1) to S2 only, then crashes
    for i in (3, 4, 5):
        net.cut(1, i)
    assert net.propose(1, b"x") == [(t0 + 1, x)]
    net.stabilize()
    assert n(1).log.committed == b + 1 and n(2).log.term(x) == t0 + 1
    net.crash(1)
    net.heal()
    # (b) S5 wins term t0+2 with S3 and S4, appends its own b+2, and crashes
    # before sending it
    net.drop(lambda m: m.frm == 5 and m.type == MsgType.APP)
    net.elect(5)
    assert n(5).term == t0 + 2 and n(5).log.term(x) == t0 + 2
    assert n(2).vote == 0  # S2's log was longer: it refused S5
    net.crash(5)
    net.heal()
    # (c) S1 restarts; in term t0+2 S3 and S4 have voted already: it needs t0+3
    net.restart(1)
    n(1).campaign()
    net.stabilize()
    assert n(1).state == StateType.CANDIDATE and n(1).term == t0 + 2
    # S3 and S4 accept x but never see the no-op after it
    net.drop(lambda m: m.type == MsgType.APP and m.frm == 1 and m.to in (3, 4)
             and any(e.index == x + 1 for e in m.entries)
             and net.node(m.to).log.last_index() >= x)
    net.elect(1)
    s1 = n(1)
    assert s1.term == t0 + 3 and s1.log.term(x + 1) == t0 + 3
    # a majority stores the old entry and the leader knows it ...
    assert [i for i in range(1, 6) if n(i).log.term(x) == t0 + 1] == [1, 2, 3, 4]
    assert s1.prs[3].match == x and s1.prs[4].match == x and s1.prs[2].match == x + 1
    # ... yet it must not count those replicas to commit an older term's entry
    assert s1.log.committed == b + 1
    assert x not in net.committed
    return net, b, t0


def test_figure8_old_term_entry_on_a_majority_is_not_committed_and_may_be_overwritten():
    net, b, t0 = figure8_setup()
    n = net.node
    # (d) S1 crashes again; S5 comes back and can win: its last term (t0+2)
    # beats the term of x, the last entry of S3 and S4
    net.crash(1)
    net.heal()
    net.restart(5)
    n(5).campaign()
    net.stabilize()  # term t0+3: everyone already voted for S1
    assert n(5).state == StateType.FOLLOWER  # refused by a majority: back to follower
    net.elect(5)     # term t0+4: S3 and S4 vote for it
    assert n(5).term == t0 + 4
    net.stabilize()
    for i in (2, 3, 4, 5):
        assert [e.term for e in n(i).log.entries[b:]] == [t0 + 1, t0 + 2, t0 + 4]
        assert n(i).log.committed == b + 3
    # x sat on a majority, was overwritten, and was never applied anywhere
    assert net.committed[b + 2] == (b + 2, t0 + 2, int(EntryType.NORMAL), b"")
    assert all(b"x" not in net.members[i].data() for i in range(1, 6))


def test_figure8_old_term_entry_commits_through_a_current_term_entry():
    net, b, t0 = figure8_setup()
    n = net.node
    net.heal()  # S5 stays down
    net.tick()  # heartbeats: S3 and S4 answer and get the no-op
    net.stabilize()
    assert n(1).is_leader and n(1).log.committed == b + 3
    for i in (1, 2, 3, 4):
        assert n(i).log.committed == b + 3
        assert net.members[i].data() == [b"x"]
        assert [e.term for e in n(i).log.entries[b:]] == [t0 + 1, t0 + 1, t0 + 3]


# ============================================================================
# log replication
# ============================================================================
FIG7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
FIG7_FOLLOWERS = {  # Figure 7 of the Raft paper
    "a": [1, 1, 1, 4, 4, 5, 5, 6, 6],
    "b": [1, 1, 1, 4],
    "c": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    "d": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    "e": [1, 1, 1, 4, 4, 4, 4],
    "f": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
}


FIG7_PREFIX = members_prefix((1, 2, 3))


def log_of(terms):
    b = len(FIG7_PREFIX)
    return FIG7_PREFIX + [Entry(t, i, EntryType.NORMAL, b"%d/%d" % (t, i))
                          for i, t in enumerate(terms, b + 1)]


@pytest.mark.parametrize("case", sorted(FIG7_FOLLOWERS))
def test_leader_repairs_missing_and_conflicting_follower_entries(case):
    follower = FIG7_FOLLOWERS[case]
    b = len(FIG7_PREFIX)
    state = {
        1: (HardState(term=7, commit=b + 3), log_of(FIG7_LEADER)),
        2: (HardState(term=max(follower), commit=b + 3), log_of(follower)),
        3: (HardState(term=7, commit=b + 3), log_of(FIG7_LEADER)),
    }
    net = Network((1, 2, 3), state=state)
    net.stabilize()  # the committed prefix is applied everywhere
    n1 = net.elect(1)
    assert n1.term == 8
    net.stabilize()
    want = FIG7_LEADER + [8]
    for i in (1, 2, 3):
        assert [e.term for e in net.node(i).log.entries[b:]] == want
        assert net.node(i).log.committed == b + len(want)
        assert net.entries(i) == net.entries(1)
    assert net.members[2].applied == net.members[1].applied


def test_deposed_leaders_uncommitted_entries_are_overwritten():
    net = Network((1, 2, 3), seed=5)
    b = boot(net)
    n1 = net.elect(1)
    net.isolate(1)
    net.propose(1, b"lost1", b"lost2")
    net.stabilize()
    assert n1.log.last_index() == b + 3 and n1.log.committed == b + 1
    net.tick_until(lambda: other_leader(net, 1) is not None, limit=5 * ET)
    new = other_leader(net, 1)
    net.propose(new, b"b1", b"b2", b"b3")
    net.stabilize()
    net.heal()
    net.tick_until(lambda: n1.lead == new and n1.log.committed == net.node(new).log.committed,
                   limit=3 * ET)
    assert net.entries(1) == net.entries(new)
    assert net.members[1].data() == [b"b1", b"b2", b"b3"]
    assert all(r[3] not in (b"lost1", b"lost2") for r in net.committed.values())


def test_proposals_between_readies_go_out_as_one_append_per_follower():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    datas = [b"p%02d" % i for i in range(50)]
    for d in datas:
        n1.propose(d)
    rd = net.process(1)
    assert len(rd.entries) == 50
    apps = of_type(rd.messages, MsgType.APP)
    assert sorted(m.to for m in apps) == [2, 3]
    for m in apps:
        assert [e.data for e in m.entries] == datas
    net.stabilize()
    for i in (1, 2, 3):
        assert net.members[i].data() == datas


def test_committed_entries_are_handed_out_only_once_persisted():
    # on a single node the leader commits once its own Ready is persisted
    net = Network((1,))
    n1 = net.node(1)
    net.tick_until(lambda: n1.is_leader, limit=2 * ET)
    _, idx = n1.propose(b"a")
    rd = n1.ready()
    assert [e.index for e in rd.entries] == [idx]
    assert idx not in [e.index for e in rd.committed_entries]
    n1.advance()
    rd = n1.ready()
    assert [e.index for e in rd.committed_entries] == [idx] and not rd.entries
    n1.advance()
    # a follower told that the entries it receives are already committed
    net = Network((1, 2, 3))
    net.stabilize()
    b, term = boot(net), net.node(3).term + 1
    net.step(3, Message(MsgType.APP, to=3, frm=1, term=term, index=b,
                        log_term=net.node(3).log.term(b),
                        entries=[Entry(term, b + 1, EntryType.NORMAL, b"x")], commit=b + 1))
    n3 = net.node(3)
    rd = n3.ready()
    assert [e.index for e in rd.entries] == [b + 1]
    assert rd.hard_state.commit == b + 1
    assert rd.committed_entries == []
    n3.advance()
    rd = n3.ready()
    assert [(e.index, e.data) for e in rd.committed_entries] == [(b + 1, b"x")]
    n3.advance()


def test_new_leader_finds_a_lagging_follower_in_one_round_trip():
    net = Network((1, 2, 3), seed=13)
    net.elect(1)
    net.isolate(3)
    datas = [b"m%d" % i for i in range(20)]
    net.propose(1, *datas)
    net.stabilize()
    net.crash(1)
    net.heal()
    net.tick_until(lambda: net.leader() == 2, limit=10 * ET)  # 3's log is too short to win
    net.stabilize()
    rejects = [m for m in net.sent
               if m.type == MsgType.APP_RESP and m.frm == 3 and m.to == 2 and m.reject]
    assert len(rejects) == 1  # its hint points straight at its last entry
    assert net.members[3].data() == datas


def test_follower_learns_commit_index_from_heartbeats():
    net = Network((1, 2, 3))
    n1, n3 = net.elect(1), net.node(3)
    # 3 gets the entry but none of the appends that would tell it it committed
    net.drop(lambda m: m.type == MsgType.APP and m.to == 3 and not m.entries)
    _, idx = net.propose(1, b"a")[0]
    net.stabilize()
    assert n1.log.committed == idx and n3.log.last_index() == idx
    assert n3.log.committed < idx and net.members[3].data() == []
    net.tick(ids=[1])  # a heartbeat carries the commit index
    assert n3.log.committed == idx and net.members[3].data() == [b"a"]


def test_max_msg_bytes_limits_entries_per_append():
    net = Network((1, 2, 3), max_msg_bytes=100)
    net.elect(1)
    start = len(net.sent)
    datas = [b"%026d" % i for i in range(9)]  # 26 bytes + 24 of overhead: 50 an entry
    net.propose(1, *datas)
    net.stabilize()
    apps = [m for m in net.sent[start:] if m.type == MsgType.APP and m.entries]
    assert max(len(m.entries) for m in apps) == 2
    assert all(sum(e.size() for e in m.entries) <= 100 for m in apps)
    for to in (2, 3):
        assert len([m for m in apps if m.to == to]) >= 5
    for i in (1, 2, 3):
        assert net.members[i].data() == datas
    # an entry larger than the limit still goes out, alone
    start = len(net.sent)
    big = b"B" * 500
    net.propose(1, big, b"small")
    net.stabilize()
    apps = [m for m in net.sent[start:] if m.type == MsgType.APP and m.entries]
    assert all(len(m.entries) == 1 for m in apps if m.entries[0].data == big)
    for i in (1, 2, 3):
        assert net.members[i].data() == datas + [big, b"small"]


def test_appends_are_pipelined_in_replicate_state():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    noop = n1.log.last_index()
    assert n1.prs[2].state == ProgressState.REPLICATE
    for r in range(5):
        n1.propose(b"r%d" % r)
        net.process(1)  # sent, nothing acknowledged yet
    to2 = [m for _, m in net.queue if m.type == MsgType.APP and m.to == 2 and m.entries]
    # each append follows the previous one optimistically
    assert [m.index for m in to2] == [noop + i for i in range(5)]
    assert list(n1.prs[2].inflight) == [noop + 1 + i for i in range(5)]
    assert n1.prs[2].next == noop + 6
    net.stabilize()
    assert not n1.prs[2].inflight
    for i in (1, 2, 3):
        assert net.node(i).log.committed == noop + 5
        assert net.members[i].data() == [b"r%d" % r for r in range(5)]


def test_max_inflight_bounds_the_pipeline():
    net = Network((1, 2, 3), max_inflight=3)
    n1 = net.elect(1)
    for r in range(5):
        n1.propose(b"r%d" % r)
        net.process(1)
    to2 = [m for _, m in net.queue if m.type == MsgType.APP and m.to == 2 and m.entries]
    assert len(to2) == 3
    assert n1.prs[2].is_paused(3)
    net.stabilize()
    for i in (1, 2, 3):
        assert net.members[i].data() == [b"r%d" % r for r in range(5)]


# ============================================================================
# PreVote
# ============================================================================
@pytest.mark.parametrize("check_quorum", [True, False])
def test_prevote_rejoining_node_does_not_disrupt(check_quorum):
    net = Network((1, 2, 3), pre_vote=True, check_quorum=check_quorum, seed=11)
    n1, n2, n3 = net.node(1), net.node(2), net.node(3)
    net.elect(1)
    term = n1.term
    net.isolate(3)
    net.propose(1, b"while-away")
    net.stabilize()
    net.tick(5 * ET)
    assert net.sent_of(MsgType.PRE_VOTE, frm=3)  # it tried, many times
    assert n3.term == term                        # but pre-campaigns keep the term
    assert not net.sent_of(MsgType.VOTE, frm=3)
    net.heal()
    n3.campaign()  # refused: 1 and 2 are in lease, or 3's log is behind
    net.stabilize()
    assert not net.sent_of(MsgType.VOTE, frm=3)
    if not check_quorum:  # refused outright by both: the pre-candidate gives up
        assert n3.state == StateType.FOLLOWER and n3.term == term
    for _ in range(4 * ET):
        net.tick()
        assert n1.is_leader and n1.term == term
        assert n2.term == term and n2.lead == 1
    assert n3.term == term and n3.lead == 1
    assert net.members[3].data() == [b"while-away"]


@pytest.mark.parametrize("check_quorum", [False, True])
def test_without_prevote_rejoining_node_disrupts_the_leader(check_quorum):
    net = Network((1, 2, 3), pre_vote=False, check_quorum=check_quorum, seed=11)
    n1, n3 = net.node(1), net.node(3)
    net.elect(1)
    term = n1.term
    net.isolate(3)
    net.propose(1, b"while-away")
    net.stabilize()
    net.tick(5 * ET)
    assert n3.term > term  # every timeout bumped it
    inflated = n3.term
    net.heal()
    disrupted = False
    for _ in range(4 * ET):
        net.tick()
        disrupted |= not (n1.is_leader and n1.term == term)
    assert disrupted
    assert n1.term >= inflated  # the cluster had to adopt the inflated term
    net.tick_until(lambda: net.leader() is not None, limit=10 * ET)
    assert net.leader() in (1, 2)  # 3's log is behind: it cannot win
    net.stabilize()
    assert net.members[3].data() == [b"while-away"]


# ============================================================================
# CheckQuorum and leader lease
# ============================================================================
def test_check_quorum_leader_cut_off_steps_down():
    net = Network((1, 2, 3), seed=2)
    n1 = net.elect(1)
    term = n1.term
    net.isolate(1)
    ticks = net.tick_until(lambda: not n1.is_leader, limit=3 * ET)
    assert ET < ticks <= 2 * ET
    assert n1.state == StateType.FOLLOWER and n1.lead == 0 and n1.term == term
    net.tick_until(lambda: other_leader(net, 1) is not None, limit=5 * ET)
    new = other_leader(net, 1)
    assert net.node(new).term > term
    net.heal()
    net.tick_until(lambda: n1.lead == new, limit=3 * ET)
    assert net.leaders() == [new]


def test_without_check_quorum_cut_off_leader_stays_leader():
    net = Network((1, 2, 3), check_quorum=False, seed=2)
    n1 = net.elect(1)
    net.isolate(1)
    net.tick(5 * ET)
    assert n1.is_leader


def test_followers_in_lease_ignore_disruptive_vote_requests():
    net = Network((1, 2, 3), node_cfg={3: {"pre_vote": False}}, seed=4)
    n1, n2, n3 = net.node(1), net.node(2), net.node(3)
    net.elect(1)
    net.tick(2)
    term = n1.term
    n3.campaign()  # 3 does not pre-vote: it raises its term right away
    net.stabilize()
    assert n3.state == StateType.CANDIDATE and n3.term == term + 1
    assert n1.is_leader and n1.term == term
    assert n2.term == term and n2.lead == 1
    assert not net.sent_of(MsgType.VOTE_RESP, to=3)  # ignored, not even refused
    # pre-vote requests too
    net.step(2, Message(MsgType.PRE_VOTE, to=2, frm=3, term=term + 1,
                        index=n3.log.last_index(), log_term=n3.log.last_term()))
    assert not net.node(2).has_ready()
    # once 2 has not heard from a leader for an election timeout, it votes
    net.isolate(1, 2)
    net.tick(ET, ids=[2])
    net.step(2, Message(MsgType.VOTE, to=2, frm=3, term=n3.term,
                        index=n3.log.last_index(), log_term=n3.log.last_term()))
    rd = net.process(2)
    resp = of_type(rd.messages, MsgType.VOTE_RESP, to=3)
    assert len(resp) == 1 and not resp[0].reject
    assert n2.vote == 3


# ============================================================================
# ReadIndex
# ============================================================================
def test_read_index_on_leader_after_heartbeat_quorum():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.propose(1, b"a")
    net.stabilize()
    commit = n1.log.committed
    n1.read_index(b"r1")
    rd = net.process(1)
    assert rd.read_states == []  # not before a quorum confirmed the leadership
    hbs = of_type(rd.messages, MsgType.HEARTBEAT)
    assert sorted(m.to for m in hbs) == [2, 3] and all(m.context == b"r1" for m in hbs)
    net.stabilize()
    m1 = net.members[1]
    assert m1.read_states == [ReadState(commit, b"r1")]
    # one follower is enough for a quorum
    net.isolate(3)
    n1.read_index(b"r2")
    net.stabilize()
    assert m1.read_states[-1] == ReadState(commit, b"r2")
    # none is not: the read waits
    net.isolate(2)
    n1.read_index(b"r3")
    net.stabilize()
    assert len(m1.read_states) == 2 and not m1.dropped_reads
    net.heal()
    net.tick()
    assert m1.read_states[-1] == ReadState(commit, b"r3")


def test_read_index_on_follower_is_forwarded_and_answered():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.propose(1, b"a")
    net.stabilize()
    net.node(2).read_index(b"f1")
    rd = net.process(2)
    fwd = of_type(rd.messages, MsgType.READ_INDEX)
    assert len(fwd) == 1
    assert fwd[0].to == 1 and fwd[0].term == 0 and fwd[0].context == b"f1"
    net.stabilize()
    assert net.members[2].read_states == [ReadState(n1.log.committed, b"f1")]
    assert net.members[1].read_states == []


def test_read_index_without_known_leader_is_dropped():
    net = Network((1, 2, 3))
    net.node(2).read_index(b"x")
    net.stabilize()
    assert net.members[2].dropped_reads == [b"x"]
    assert net.members[2].read_states == []


def test_read_index_on_partitioned_leader_is_refused():
    net = Network((1, 2, 3), seed=9)
    n1 = net.elect(1)
    net.isolate(1)
    n1.read_index(b"stale")
    net.tick_until(lambda: not n1.is_leader, limit=3 * ET)
    net.stabilize()
    m1 = net.members[1]
    assert m1.dropped_reads == [b"stale"]
    net.heal()
    net.tick(3 * ET)
    assert all(rs.context != b"stale" for rs in m1.read_states)


def test_read_index_on_deposed_leader_without_check_quorum_is_refused():
    net = Network((1, 2, 3), check_quorum=False, seed=9)
    n1 = net.elect(1)
    net.isolate(1)
    n1.read_index(b"stale")
    net.tick_until(lambda: other_leader(net, 1) is not None, limit=5 * ET)
    net.propose(other_leader(net, 1), b"newer")
    net.stabilize()
    m1 = net.members[1]
    assert n1.is_leader  # it still believes it leads
    assert m1.read_states == [] and m1.dropped_reads == []
    net.heal()
    net.tick_until(lambda: not n1.is_leader, limit=2 * ET)
    net.stabilize()
    assert m1.dropped_reads == [b"stale"]
    net.tick(2 * ET)
    assert all(rs.context != b"stale" for rs in m1.read_states)


def test_read_index_on_new_leader_waits_for_its_noop_to_commit():
    net = Network((1, 2, 3))
    net.drop(lambda m: m.type == MsgType.APP_RESP)
    n1 = net.elect(1)
    noop = n1.log.last_index()
    assert n1.log.committed < noop
    n1.read_index(b"early")
    net.stabilize()
    m1 = net.members[1]
    assert m1.read_states == [] and m1.dropped_reads == []
    assert not [m for m in net.sent if m.type == MsgType.HEARTBEAT and m.context == b"early"]
    net.heal()
    net.tick()
    assert n1.log.committed == noop
    assert m1.read_states == [ReadState(noop, b"early")]


def test_read_index_forwarded_through_a_former_leader_reaches_the_requester():
    net = Network((1, 2, 3))
    net.elect(1)
    # 3's request is on its way to 1 while leadership moves to 2
    net.hold = lambda m: m.type == MsgType.READ_INDEX
    net.node(3).read_index(b"r3")
    net.stabilize()
    assert len(net.held) == 1
    net.node(1).transfer_leadership(2)
    net.stabilize()
    assert net.node(2).is_leader and net.node(1).lead == 2
    net.release_held()
    net.stabilize()
    # 1 passes the request on to 2; the answer belongs to 3
    assert b"r3" not in [rs.context for rs in net.members[1].read_states]
    answers = [rs.context for rs in net.members[3].read_states] + net.members[3].dropped_reads
    assert b"r3" in answers


def test_forwarded_read_pending_on_a_leader_that_steps_down_is_refused():
    net = Network((1, 2, 3), seed=9)
    n1 = net.elect(1)
    # the leader gets 2's read but can no longer confirm it with a quorum
    net.drop(lambda m: m.type == MsgType.HEARTBEAT and m.frm == 1)
    net.node(2).read_index(b"f")
    net.stabilize()
    assert [m.context for m in net.sent_of(MsgType.READ_INDEX, frm=2, to=1)] == [b"f"]
    # nothing reaches 1 any more, but 1 can still talk: it steps down
    net.drop(lambda m: m.to == 1)
    net.tick_until(lambda: not n1.is_leader, limit=3 * ET)
    net.heal()
    net.tick(3 * ET)
    m2 = net.members[2]
    assert b"f" not in [rs.context for rs in m2.read_states]
    # the deposed leader refuses the forwarded read: 2 hears back
    assert b"f" in m2.dropped_reads


def test_forwarded_read_answered_while_requester_campaigns_is_not_lost():
    net = Network((1, 2, 3))
    net.elect(1)
    net.hold = lambda m: m.type == MsgType.READ_INDEX_RESP
    net.node(3).read_index(b"r")
    net.stabilize()
    assert [m.to for _, m in net.held] == [3]  # answered by the leader
    n3 = net.node(3)
    n3.campaign()  # a pre-vote round: 1 and 2 are in lease and ignore it
    net.stabilize()
    assert n3.state == StateType.PRE_CANDIDATE
    net.release_held()
    net.stabilize()
    m3 = net.members[3]
    assert b"r" in [rs.context for rs in m3.read_states] + m3.dropped_reads


# ============================================================================
# snapshots
# ============================================================================
def test_create_snapshot_compacts_the_log():
    net = Network((1, 2, 3))
    b = boot(net)
    n1 = net.elect(1)
    net.propose(1, *[b"e%d" % i for i in range(10)])
    net.stabilize()
    last = b + 11
    assert n1.log.applied == last
    snap = net.compact(1, last - 3)
    assert snap.meta.index == last - 3 and snap.meta.term == n1.term
    assert snap.meta.conf_state == ConfState((1, 2, 3), ())
    assert n1.log.snap_index == last - 3 and n1.log.first_index() == last - 2
    assert n1.log.last_index() == last
    assert [e.index for e in n1.log.entries] == [last - 2, last - 1, last]
    assert n1.log.term(last - 4) is None and n1.log.term(last - 3) == n1.term
    assert decode_records(snap.data) == net.members[1].applied[:last - 3]
    assert net.members[1].storage.snapshot is snap
    assert [e.index for e in net.members[1].storage.entries] == [last - 2, last - 1, last]
    with pytest.raises(ValueError):
        n1.create_snapshot(last + 1, b"")  # beyond applied
    with pytest.raises(ValueError):
        n1.create_snapshot(last - 6, b"")  # already compacted
    net.propose(1, b"after")
    net.stabilize()
    for i in (1, 2, 3):
        assert net.members[i].data()[-1] == b"after"


def test_snapshot_matching_the_log_acknowledges_only_verified_entries():
    # 2 holds b+1..b+3 and, after them, two uncommitted entries the leader
    # never vouched for (they may differ from the leader's b+4 and b+5)
    prefix = members_prefix((1, 2, 3))
    b = len(prefix)
    ents = prefix + [Entry(2, b + i, EntryType.NORMAL, b"e%d" % i) for i in range(1, 6)]
    node = RaftNode(Config(2, peers=(1, 2, 3)), hard_state=HardState(term=2, commit=b),
                    entries=ents)
    snap = Snapshot(SnapshotMeta(b + 3, 2, ConfState((1, 2, 3), ())), b"state")
    node.step(Message(MsgType.SNAP, to=2, frm=1, term=3, snapshot=snap))
    assert node.log.committed == b + 3 and node.log.last_index() == b + 5  # kept, fast-forwarded
    resp = of_type(node.ready().messages, MsgType.APP_RESP)
    assert len(resp) == 1 and resp[0].to == 1 and not resp[0].reject
    # the answer may only claim what the snapshot proved to match
    assert resp[0].index == b + 3


def lagging_follower_setup(seed=12):
    """3 missed 20 entries; the leader (and 2) compacted past them."""
    net = Network((1, 2, 3), seed=seed)
    n1 = net.elect(1)
    net.propose(1, b"before")
    net.stabilize()
    net.isolate(3)
    net.propose(1, *[b"v%d" % i for i in range(20)])
    net.stabilize()
    snap = net.compact(1)
    net.compact(2)
    assert n1.log.snap_index == snap.meta.index == n1.log.last_index()
    assert net.node(3).log.last_index() < snap.meta.index
    return net, snap


def test_lagging_follower_catches_up_through_a_snapshot():
    net, snap = lagging_follower_setup()
    n1, n3, m3 = net.node(1), net.node(3), net.members[3]
    net.heal()
    net.tick_until(lambda: m3.applied_index == n1.log.committed, limit=3 * ET)
    assert [s.meta.index for s in m3.snapshots] == [snap.meta.index]  # its Ready carried it
    assert len(net.sent_of(MsgType.SNAP, to=3)) == 1
    assert n3.log.snap_index == snap.meta.index
    assert m3.storage.snapshot.meta.index == snap.meta.index
    assert m3.data() == net.members[1].data()
    assert n1.prs[3].state == ProgressState.REPLICATE
    net.propose(1, b"after")
    net.stabilize()
    assert net.entries(3) == net.entries(1)
    assert m3.data()[-1] == b"after"


@pytest.mark.parametrize("report", [False, True])
def test_lost_snapshot_is_retried(report):
    net, snap = lagging_follower_setup()
    n1, m3 = net.node(1), net.members[3]
    net.heal()
    lost = []

    def drop_first_snapshot(m):
        if m.type == MsgType.SNAP and not lost:
            lost.append(m)
            return True
        return False

    net.drop(drop_first_snapshot)
    net.tick_until(lambda: lost, limit=2 * ET)
    assert n1.prs[3].state == ProgressState.SNAPSHOT
    caught_up = lambda: m3.applied_index == n1.log.committed  # noqa: E731
    if report:
        n1.report_snapshot_failure(3)  # the transport noticed
        ticks = net.tick_until(caught_up, limit=3)
    else:
        ticks = net.tick_until(caught_up, limit=3 * ET)
        assert ticks > ET  # given up on after an election timeout of heartbeats
    assert len(net.sent_of(MsgType.SNAP, to=3)) == 2
    assert [s.meta.index for s in m3.snapshots] == [snap.meta.index]
    assert m3.data() == net.members[1].data()


# ============================================================================
# leadership transfer
# ============================================================================
def test_transfer_leadership_to_up_to_date_follower():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.propose(1, b"a")
    net.stabilize()
    term = n1.term
    n1.transfer_leadership(2)
    rd = net.process(1)
    assert [(m.type, m.to) for m in rd.messages] == [(MsgType.TIMEOUT_NOW, 2)]
    net.stabilize()
    n2 = net.node(2)
    assert n2.is_leader and n2.term == term + 1
    assert n1.state == StateType.FOLLOWER and n1.lead == 2 and net.node(3).lead == 2
    votes = net.sent_of(MsgType.VOTE, frm=2)
    assert votes and all(m.context == CAMPAIGN_TRANSFER for m in votes)
    assert not net.sent_of(MsgType.PRE_VOTE, frm=2)  # no pre-vote round for a transfer
    net.propose(2, b"b")
    net.stabilize()
    for i in (1, 2, 3):
        assert net.members[i].data() == [b"a", b"b"]


def test_transfer_leadership_to_lagging_follower_catches_it_up_first():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    term = n1.term
    net.cut(1, 3, both=False)
    net.propose(1, b"a", b"b", b"c")
    net.stabilize()
    last = n1.log.last_index()
    assert net.node(3).log.last_index() < last
    net.heal()
    n1.transfer_leadership(3)
    rd = net.process(1)
    assert not of_type(rd.messages, MsgType.TIMEOUT_NOW)
    net.stabilize()
    order = [(m.type, m.frm, m.to, m.index, m.reject) for m in net.sent]
    timeout_now = [i for i, o in enumerate(order) if o[0] == MsgType.TIMEOUT_NOW]
    caught_up = [i for i, o in enumerate(order)
                 if o[0] == MsgType.APP_RESP and o[1] == 3 and o[3] == last and not o[4]]
    assert len(timeout_now) == 1 and caught_up and caught_up[0] < timeout_now[0]
    n3 = net.node(3)
    assert n3.is_leader and n3.term == term + 1
    assert net.members[3].data() == [b"a", b"b", b"c"]


def test_proposals_refused_during_transfer_until_it_times_out():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.isolate(3)  # the transfer cannot complete
    net.propose(1, b"a")
    net.stabilize()
    n1.transfer_leadership(3)
    net.stabilize()
    assert n1.lead_transferee == 3
    with pytest.raises(ProposalDropped) as ei:
        n1.propose(b"b")
    assert ei.value.leader == 3
    with pytest.raises(ProposalDropped):
        n1.propose_conf_change(add_learner(4))
    net.tick(ET - 1)
    with pytest.raises(ProposalDropped):
        n1.propose(b"b")
    net.tick()  # an election timeout without success aborts the transfer
    assert n1.is_leader and n1.lead_transferee == 0
    n1.propose(b"b")
    net.stabilize()
    assert net.members[2].data() == [b"a", b"b"]


def test_transfer_to_non_voter_is_ignored():
    net = Network((1, 2, 3), learners=(4,))
    n1 = net.elect(1)
    for target in (4, 1, 9):  # a learner, itself, a stranger
        n1.transfer_leadership(target)
        assert n1.lead_transferee == 0
    net.stabilize()
    assert not net.sent_of(MsgType.TIMEOUT_NOW)
    n1.propose(b"ok")
    net.stabilize()
    assert n1.is_leader and net.members[4].data() == [b"ok"]
    # and a learner told to time out does not campaign
    n4 = net.node(4)
    net.step(4, Message(MsgType.TIMEOUT_NOW, to=4, frm=1, term=n1.term))
    net.stabilize()
    assert n4.state == StateType.FOLLOWER and n4.term == n1.term and n1.is_leader


def test_transfer_request_on_follower_is_forwarded():
    net = Network((1, 2, 3))
    net.elect(1)
    net.node(2).transfer_leadership(3)
    rd = net.process(2)
    fwd = of_type(rd.messages, MsgType.TRANSFER_LEADER)
    assert len(fwd) == 1 and fwd[0].to == 1 and fwd[0].frm == 3 and fwd[0].term == 0
    net.stabilize()
    assert net.node(3).is_leader


# ============================================================================
# membership changes
# ============================================================================
def test_add_node_catches_up_and_counts_toward_quorum():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.propose(1, b"a", b"b")
    net.stabilize()
    n4 = net.add(4, peers=())  # a joining node learns the membership from the leader
    n1.propose_conf_change(add_node(4))
    net.stabilize()
    for i in (1, 2, 3, 4):
        assert net.node(i).voters == {1, 2, 3, 4}
    assert n4.lead == 1 and net.entries(4) == net.entries(1)
    assert net.members[4].data() == [b"a", b"b"]
    # with 3 away, 1, 2 and 4 make the quorum of 3 ...
    net.isolate(3)
    net.propose(1, b"c")
    net.stabilize()
    assert net.members[1].data()[-1] == b"c"
    # ... and without 4 as well, 2 of 4 is not enough
    net.isolate(4)
    before = n1.log.committed
    net.propose(1, b"d")
    net.stabilize()
    assert n1.log.committed == before
    net.heal()
    net.tick_until(lambda: net.members[4].data()[-1:] == [b"d"], limit=3)
    assert n1.log.committed > before


def test_new_node_learns_membership_from_snapshot():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.propose(1, b"a")
    net.stabilize()
    n1.propose_conf_change(add_node(4))
    net.stabilize()
    net.propose(1, b"b")
    net.stabilize()
    snap = net.compact(1)
    assert snap.meta.conf_state == ConfState((1, 2, 3, 4), ())
    n4 = net.add(4, peers=())
    net.tick_until(lambda: net.members[4].applied_index == n1.log.committed, limit=2 * ET)
    assert [s.meta.index for s in net.members[4].snapshots] == [snap.meta.index]
    assert n4.voters == {1, 2, 3, 4} and n4.lead == 1
    assert net.members[4].data() == [b"a", b"b"]


def test_remove_node_shrinks_the_quorum():
    net = Network((1, 2, 3, 4))
    n1 = net.elect(1)
    net.isolate(3, 4)
    before = n1.log.committed
    net.propose(1, b"x")
    net.stabilize()
    assert n1.log.committed == before  # 2 of 4
    net.heal()
    net.tick_until(lambda: n1.log.committed == before + 1, limit=3)
    n1.propose_conf_change(remove_node(4))
    net.stabilize()
    for i in (1, 2, 3):
        assert net.node(i).voters == {1, 2, 3}
    assert 4 not in n1.prs
    net.isolate(3, 4)
    net.propose(1, b"y")
    net.stabilize()
    assert net.members[1].data()[-1] == b"y" and net.members[2].data()[-1] == b"y"  # 2 of 3


def test_removed_leader_steps_down_once_the_change_commits():
    net = Network((1, 2, 3), seed=6)
    n1 = net.elect(1)
    n1.propose_conf_change(remove_node(1))
    assert n1.is_leader  # not before the change commits
    net.stabilize()
    assert n1.state == StateType.FOLLOWER
    for i in (1, 2, 3):
        assert net.node(i).voters == {2, 3}
    net.tick_until(lambda: net.leader() in (2, 3), limit=5 * ET)
    new = net.leader()
    net.propose(new, b"after")
    net.stabilize()
    assert net.members[2].data() == [b"after"] and net.members[3].data() == [b"after"]
    # the removed node no longer campaigns
    sent = len(net.sent)
    term = n1.term
    net.tick(5 * ET)
    assert n1.term == term and not n1.is_leader
    assert not [m for m in net.sent[sent:] if m.frm == 1
                and m.type in (MsgType.PRE_VOTE, MsgType.VOTE)]


def test_conf_change_takes_effect_only_once_committed():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.drop(lambda m: m.type == MsgType.APP_RESP)  # nothing can commit
    _, idx = n1.propose_conf_change(remove_node(3))
    net.stabilize()
    for i in (1, 2, 3):
        node = net.node(i)
        assert node.log.term(idx) == n1.term and node.log.committed < idx  # appended everywhere
        assert node.voters == {1, 2, 3}
    assert 3 in n1.prs
    net.heal()
    net.tick(ids=[1])
    assert n1.log.committed >= idx
    assert n1.voters == {1, 2} and 3 not in n1.prs and net.node(2).voters == {1, 2}


def test_second_conf_change_refused_while_one_is_uncommitted():
    net = Network((1, 2, 3))
    b = boot(net)
    n1 = net.elect(1)
    n1.propose_conf_change(add_learner(4))
    with pytest.raises(ProposalDropped):
        n1.propose_conf_change(add_learner(5))
    net.stabilize()
    n1.propose_conf_change(add_learner(5))
    net.stabilize()
    assert n1.learners == {4, 5} and net.node(2).learners == {4, 5}
    # the refused change never reached the log
    assert [ConfChange.decode(e.data).node_id for e in n1.log.entries
            if e.type == EntryType.CONF_CHANGE][-2:] == [4, 5]
    assert sum(e.type == EntryType.CONF_CHANGE for e in n1.log.entries[b:]) == 2


def test_conf_change_refused_until_leader_committed_in_its_term():
    net = Network((1, 2, 3))
    net.drop(lambda m: m.type == MsgType.APP_RESP)
    n1 = net.elect(1)
    with pytest.raises(ProposalDropped):
        n1.propose_conf_change(add_learner(4))
    net.heal()
    net.tick()
    assert n1.log.committed == n1.log.last_index()
    n1.propose_conf_change(add_learner(4))
    net.stabilize()
    assert n1.learners == {4}


def test_cannot_remove_the_last_voter():
    net = Network((1,))
    n1 = net.node(1)
    net.tick_until(lambda: n1.is_leader, limit=2 * ET)
    with pytest.raises(ProposalDropped):
        n1.propose_conf_change(remove_node(1))


def test_learner_replicates_but_neither_votes_nor_counts():
    net = Network((1, 2, 3), learners=(4,), seed=10)
    n1, n4 = net.node(1), net.node(4)
    net.elect(1)
    net.propose(1, b"a")
    net.stabilize()
    assert net.members[4].data() == [b"a"]
    assert n4.learners == {4} and n4.voters == {1, 2, 3}
    assert not [m for m in net.sent if m.to == 4 and m.type in (MsgType.VOTE, MsgType.PRE_VOTE)]
    # leader and learner hold the entry: no quorum of voters
    net.isolate(2, 3)
    before = n1.log.committed
    net.propose(1, b"b")
    net.stabilize()
    assert n1.prs[4].match == n1.log.last_index()
    assert n1.log.committed == before
    # nor does the learner's heartbeat answer confirm a read
    n1.read_index(b"lr")
    net.stabilize()
    assert net.sent_of(MsgType.HEARTBEAT_RESP, frm=4)[-1].context == b"lr"
    assert net.members[1].read_states == []
    net.heal()
    net.tick_until(lambda: n1.log.committed > before, limit=3)
    assert net.members[1].read_states == [ReadState(before, b"lr")]
    # a learner never campaigns
    net.isolate(4)
    term = n4.term
    net.tick(5 * ET)
    assert n4.term == term and n4.state == StateType.FOLLOWER
    assert not net.sent_of(MsgType.PRE_VOTE, frm=4) and not net.sent_of(MsgType.VOTE, frm=4)
    # and leader elections never count on it
    net.heal()
    net.crash(1)
    net.tick_until(lambda: net.leader() in (2, 3), limit=10 * ET)
    assert not [m for m in net.sent if m.to == 4 and m.type in (MsgType.VOTE, MsgType.PRE_VOTE)]


def test_add_learner_then_promote_it():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.propose(1, b"a")
    net.stabilize()
    net.add(4, peers=())
    n1.propose_conf_change(add_learner(4))
    net.stabilize()
    for i in (1, 2, 3, 4):
        assert net.node(i).learners == {4} and net.node(i).voters == {1, 2, 3}
    assert n1.prs[4].learner and net.members[4].data() == [b"a"]
    n1.propose_conf_change(add_node(4))
    net.stabilize()
    for i in (1, 2, 3, 4):
        assert net.node(i).learners == set() and net.node(i).voters == {1, 2, 3, 4}
    assert not n1.prs[4].learner


def test_snapshot_records_the_membership_in_effect_at_its_index():
    net = Network((1, 2, 3))
    b = boot(net)
    n1 = net.elect(1)                        # b+1: no-op
    net.propose(1, b"a", b"b")               # b+2, b+3
    net.stabilize()
    n1.propose_conf_change(add_learner(4))   # b+4
    net.stabilize()
    net.propose(1, b"c")                     # b+5
    net.stabilize()
    assert n1.log.applied == b + 5
    before, after = ConfState((1, 2, 3), ()), ConfState((1, 2, 3), (4,))
    assert net.compact(1, b + 2).meta.conf_state == before
    # the learner, added at b+4, lies beyond this snapshot
    assert net.compact(1, b + 3).meta.conf_state == before
    assert net.compact(1, b + 5).meta.conf_state == after


# ============================================================================
# restart from persisted state
# ============================================================================
def test_restarted_node_keeps_term_vote_commit_and_log():
    net = Network((1, 2, 3))
    b = boot(net)
    n1 = net.elect(1)
    net.propose(1, b"a", b"b")
    net.stabilize()
    old = net.node(2)
    hs = old.hard_state()
    assert hs == HardState(n1.term, 1, b + 3)
    assert net.members[2].storage.hard_state == hs
    ents = net.entries(2)
    net.crash(2)
    n2 = net.restart(2)
    assert n2 is not old
    assert n2.hard_state() == hs
    assert net.entries(2) == ents
    assert n2.state == StateType.FOLLOWER and n2.lead == 0
    net.stabilize()  # replays the committed entries into a fresh state machine
    assert net.members[2].data() == [b"a", b"b"]
    net.propose(1, b"c")
    net.stabilize()
    assert net.members[2].data() == [b"a", b"b", b"c"] and n2.lead == 1


def test_restarted_node_does_not_vote_twice_in_a_term():
    net = Network((1, 2, 3), pre_vote=False)
    net.stabilize()
    t = net.node(2).term + 1
    commit = net.node(2).log.committed

    def ask(frm, term):
        log = net.node(2).log  # candidates with logs as long as 2's
        net.step(2, Message(MsgType.VOTE, to=2, frm=frm, term=term,
                            index=log.last_index(), log_term=log.last_term()))
        resp = of_type(net.process(2).messages, MsgType.VOTE_RESP, to=frm)
        assert len(resp) == 1
        return not resp[0].reject

    assert ask(1, t)
    assert net.members[2].storage.hard_state == HardState(t, 1, commit)
    net.crash(2)
    n2 = net.restart(2)
    assert (n2.term, n2.vote) == (t, 1)
    assert not ask(3, t)   # already voted for 1 in this term
    assert ask(1, t)       # the same candidate asking again is fine
    assert ask(3, t + 1)   # a new term, a new vote
    assert (n2.term, n2.vote) == (t + 1, 3)


def test_restart_from_snapshot_and_entries():
    net = Network((1, 2, 3))
    n1 = net.elect(1)
    net.propose(1, *[b"s%d" % i for i in range(6)])
    net.stabilize()
    n1.propose_conf_change(add_learner(4))
    net.stabilize()
    snap = net.compact(2)
    assert snap.meta.conf_state == ConfState((1, 2, 3), (4,))
    net.propose(1, b"t1", b"t2")
    net.stabilize()
    hs = net.node(2).hard_state()
    ents = net.entries(2)
    assert ents[0][0] == snap.meta.index + 1
    net.crash(2)
    n2 = net.restart(2)  # its Config still names no learners
    assert n2.log.snap_index == snap.meta.index
    assert n2.hard_state() == hs and net.entries(2) == ents
    assert n2.voters == {1, 2, 3} and n2.learners == {4}
    net.stabilize()
    assert net.members[2].data() == net.members[1].data()
    assert net.members[2].data()[-2:] == [b"t1", b"t2"]


def test_whole_cluster_restart_keeps_the_data():
    net = Network((1, 2, 3), seed=21)
    n1 = net.elect(1)
    net.propose(1, b"a", b"b")
    net.stabilize()
    net.compact(3)
    net.propose(1, b"c")
    net.stabilize()
    old_term = n1.term
    for i in (1, 2, 3):
        net.crash(i)
    for i in (1, 2, 3):
        net.restart(i)
    net.tick_until(lambda: net.leader() is not None, limit=5 * ET)
    lid = net.leader()
    assert net.node(lid).term > old_term
    net.propose(lid, b"d")
    net.stabilize()
    for i in (1, 2, 3):
        assert net.members[i].data() == [b"a", b"b", b"c", b"d"]


def _drain(node):
    rd = node.ready()
    node.advance()
    return rd


def test_leader_sends_before_persisting_but_commits_only_on_durable_copies():
    """Raft thesis 10.2.1: a leader's appends may go out while its own write
    is in flight; its volatile copy must not count toward a quorum."""
    nodes = {i: RaftNode(Config(i, peers=(1, 2, 3), seed=i)) for i in (1, 2, 3)}
    for n in nodes.values():
        _drain(n)
    leader = nodes[1]
    leader.campaign()
    first = leader.ready()
    assert not first.send_before_persist, "a candidate's vote must be durable before it asks"
    leader.advance()
    pending = list(first.messages)
    while pending:   # elect and replicate the no-op everywhere
        m = pending.pop(0)
        nodes[m.to].step(m)
        for n in nodes.values():
            if n.has_ready():
                pending += _drain(n).messages
    assert leader.is_leader
    leader.propose(b"x")
    rd = leader.ready()                 # not advanced: our own write is in flight
    assert rd.send_before_persist and rd.entries and rd.entries[-1].data == b"x"
    idx = rd.entries[-1].index
    apps = of_type(rd.messages, MsgType.APP)
    nodes[2].step(apps[0] if apps[0].to == 2 else apps[1])
    for m in _drain(nodes[2]).messages:
        leader.step(m)
    # one follower's durable copy plus the leader's volatile one: no quorum
    assert leader.log.committed < idx
    leader.advance()                    # now the leader's copy is durable too
    assert leader.log.committed == idx
    # a follower never sends before its write is durable
    leader.propose(b"y")
    rd = _drain(leader)
    nodes[3].step(next(m for m in rd.messages if m.to == 3 and m.type == MsgType.APP))
    assert not nodes[3].ready().send_before_persist
