"""Tests for the linearizability checker used on simulator histories."""
from __future__ import annotations

import itertools
import math
import random

import pytest

from raftstore.linearizability import CheckResult, KVModel, Operation, check

INF = math.inf
KV = KVModel()


def put(c, key, value, call, ret, out=None):
    return Operation(c, ("put", key, value), out, call, ret)


def get(c, key, value, call, ret):
    return Operation(c, ("get", key), value, call, ret)


def delete(c, key, n, call, ret):
    return Operation(c, ("delete", key), n, call, ret)


def cas(c, key, expected, new, ok, call, ret):
    return Operation(c, ("cas", key, expected, new), ok, call, ret)


def ok(history) -> bool | None:
    return check(history, KV).ok


# ---------------------------------------------------------------------------
# hand-made histories

def test_empty_history():
    res = check([], KV)
    assert res.ok is True and res.partitions == 0 and res.ops == 0


def test_sequential_legal():
    h = [
        get(1, "x", None, 0, 1),
        put(1, "x", 1, 2, 3),
        get(2, "x", 1, 4, 5),
        put(2, "x", 2, 6, 7),
        get(1, "x", 2, 8, 9),
    ]
    res = check(h, KV)
    assert res.ok is True
    assert res.failed_partition is None and res.partitions == 1 and res.ops == 5


def test_sequential_illegal_read():
    h = [put(1, "x", 1, 0, 1), get(1, "x", 2, 2, 3)]
    assert ok(h) is False


@pytest.mark.parametrize("seen", [0, 1])
def test_concurrent_put_get_sees_either_value(seen):
    h = [
        put(1, "x", 0, 0, 1),
        put(1, "x", 1, 2, 10),
        get(2, "x", seen, 3, 5),   # overlaps the second put
    ]
    assert ok(h) is True


def test_concurrent_read_of_unwritten_value_fails():
    h = [put(1, "x", 0, 0, 1), put(1, "x", 1, 2, 10), get(2, "x", 7, 3, 5)]
    assert ok(h) is False


def test_stale_read_after_completed_write():
    h = [
        put(1, "x", 0, 0, 1),
        put(1, "x", 1, 2, 3),
        get(2, "x", 0, 4, 5),   # starts after put(1) completed
    ]
    assert ok(h) is False


def test_concurrent_writes_observed_in_inconsistent_orders():
    # Both writes overlap all reads; client 3 sees 1 then 2, client 4 sees 2
    # then 1: no single order of the writes explains both.
    h = [
        put(1, "x", 1, 0, 10),
        put(2, "x", 2, 0, 10),
        get(3, "x", 1, 1, 2),
        get(3, "x", 2, 3, 4),
        get(4, "x", 2, 1, 2),
        get(4, "x", 1, 3, 4),
    ]
    assert ok(h) is False
    # The same with both readers agreeing on the order is fine.
    h[4] = get(4, "x", 1, 1, 2)
    h[5] = get(4, "x", 2, 3, 4)
    assert ok(h) is True


def test_tie_between_return_and_call_counts_as_overlap():
    # put returns at t=2 and get is called at t=2: concurrent, so the get may
    # still see the old value.
    h = [put(1, "x", 0, 0, 1), put(1, "x", 1, 1.5, 2), get(2, "x", 0, 2, 3)]
    assert ok(h) is True
    h[2] = get(2, "x", 0, 2.000001, 3)
    assert ok(h) is False


def test_cas_sequences_ok():
    h = [
        cas(1, "x", None, 1, True, 0, 1),     # create
        cas(2, "x", None, 5, False, 2, 3),    # already exists
        cas(1, "x", 1, 2, True, 4, 5),
        cas(2, "x", 1, 3, False, 6, 7),       # stale expectation
        get(3, "x", 2, 8, 9),
        cas(3, "x", 2, None, True, 10, 11),   # delete via cas
        get(1, "x", None, 12, 13),
    ]
    assert ok(h) is True


def test_concurrent_cas_one_winner():
    h = [
        put(0, "x", 0, 0, 1),
        cas(1, "x", 0, 1, True, 2, 5),
        cas(2, "x", 0, 2, False, 2, 5),
        get(3, "x", 1, 6, 7),
    ]
    assert ok(h) is True
    # Both claiming success is impossible.
    h[2] = cas(2, "x", 0, 2, True, 2, 5)
    assert ok(h) is False


@pytest.mark.parametrize("history", [
    # cas succeeds although the value differs
    [put(1, "x", 0, 0, 1), cas(1, "x", 5, 6, True, 2, 3)],
    # cas fails although the value matches and nothing else ran
    [put(1, "x", 0, 0, 1), cas(1, "x", 0, 6, False, 2, 3)],
    # a successful cas' value is not visible afterwards
    [put(1, "x", 0, 0, 1), cas(1, "x", 0, 6, True, 2, 3), get(2, "x", 0, 4, 5)],
    # cas "create" on a key that exists
    [put(1, "x", 0, 0, 1), cas(1, "x", None, 6, True, 2, 3)],
    # cas delete, then the value is still there
    [put(1, "x", 0, 0, 1), cas(1, "x", 0, None, True, 2, 3), get(1, "x", 0, 4, 5)],
])
def test_cas_sequences_not_ok(history):
    assert ok(history) is False


def test_lost_acknowledged_write():
    h = [
        put(1, "x", "old", 0, 1),
        put(1, "x", "new", 2, 3),      # acknowledged
        get(2, "x", "old", 10, 11),    # ... and later gone
    ]
    assert ok(h) is False


def test_unknown_put_observed_is_ok():
    h = [
        put(1, "x", 1, 0, 1),
        put(1, "x", 2, 2, INF),        # timed out
        get(2, "x", 2, 5, 6),
        get(2, "x", 2, 7, 8),
    ]
    assert ok(h) is True


def test_unknown_put_never_observed_is_ok():
    h = [
        put(1, "x", 1, 0, 1),
        put(1, "x", 2, 2, INF),
        get(2, "x", 1, 5, 6),
        get(2, "x", 1, 7, 8),
    ]
    assert ok(h) is True


def test_unknown_put_observed_then_not_observed():
    h = [
        put(1, "x", 1, 0, 1),
        put(1, "x", 2, 2, INF),
        get(2, "x", 2, 5, 6),
        get(2, "x", 1, 7, 8),          # the value went back
    ]
    assert ok(h) is False


def test_unknown_put_cannot_act_before_its_call():
    h = [put(1, "x", 1, 0, 1), get(2, "x", 2, 2, 3), put(1, "x", 2, 4, INF)]
    assert ok(h) is False


def test_retried_unknown_put_can_take_effect_twice():
    # Two timed-out attempts of the same put: each may take effect on its own.
    h = [
        put(1, "x", 1, 0, INF),
        put(1, "x", 1, 1, INF),
        get(2, "x", 1, 2, 3),
        put(3, "x", 2, 4, 5),
        get(2, "x", 2, 6, 7),
        get(2, "x", 1, 8, 9),
    ]
    assert ok(h) is True
    assert ok([h[0]] + h[2:]) is False      # with one attempt, it cannot


def test_many_unknown_deletes():
    h = [put(1, "x", 0, 0, 1)]
    for i in range(12):
        h.append(delete(2, "x", None, 2 + i, INF))
        h.append(put(1, "x", i + 1, 2 + i, 2.5 + i))
    h.append(get(3, "x", None, 20, 21))
    assert ok(h) is True
    h.append(get(3, "x", 5, 22, 23))        # 5 was overwritten long ago
    assert ok(h) is False


def test_unknown_get_is_dropped():
    h = [put(1, "x", 1, 0, 1), get(2, "x", 99, 2, INF)]
    res = check(h, KV)
    assert res.ok is True and res.ops == 2
    assert KV.partition(h) == [[h[0]]]


def test_unknown_cas_applies_conditionally():
    # An unknown cas whose expectation matches may have taken effect ...
    h = [put(1, "x", 0, 0, 1), cas(1, "x", 0, 1, None, 2, INF), get(2, "x", 1, 5, 6)]
    assert ok(h) is True
    # ... but one whose expectation never matched cannot have.
    h = [put(1, "x", 0, 0, 1), cas(1, "x", 7, 1, None, 2, INF), get(2, "x", 1, 5, 6)]
    assert ok(h) is False


def test_delete_semantics():
    good = [
        delete(1, "x", 0, 0, 1),           # absent: deletes nothing
        put(1, "x", 1, 2, 3),
        delete(2, "x", 1, 4, 5),
        get(1, "x", None, 6, 7),
        delete(2, "x", None, 8, 9),        # count not reported
        put(1, "x", 2, 10, 11),
        delete(1, "x", 1, 12, INF),        # outcome unknown
        get(2, "x", None, 13, 14),
    ]
    assert ok(good) is True
    assert ok([delete(1, "x", 1, 0, 1)]) is False                             # nothing to delete
    assert ok([put(1, "x", 1, 0, 1), delete(1, "x", 0, 2, 3)]) is False       # missed the value
    assert ok([put(1, "x", 1, 0, 1), delete(1, "x", 1, 2, 3),
               get(2, "x", 1, 4, 5)]) is False                                # value survived
    # Two concurrent deletes of one value: exactly one may report it.
    two = [put(1, "x", 1, 0, 1), delete(1, "x", 1, 2, 5), delete(2, "x", 0, 2, 5)]
    assert ok(two) is True
    two[2] = delete(2, "x", 1, 2, 5)
    assert ok(two) is False


def test_partitioning_reports_the_failing_key():
    h = [
        put(1, "a", 1, 0, 1), get(2, "a", 1, 2, 3),
        put(1, "b", 1, 0, 1), get(2, "b", 9, 2, 3),     # violation on "b"
        put(1, "c", 1, 0, 1), get(2, "c", None, 0.5, 0.7),
    ]
    res = check(h, KV)
    assert res.ok is False
    assert res.partitions == 3 and res.ops == 6
    assert res.failed_partition is not None
    assert {op.input[1] for op in res.failed_partition} == {"b"}
    assert res.failed_partition == [h[2], h[3]]
    assert res.longest_prefix == [h[2]]


def test_independent_keys_do_not_interact():
    # Reads of "a" do not see writes to "b" and vice versa.
    h = [
        put(1, "a", 1, 0, 10),
        put(2, "b", 2, 0, 10),
        get(3, "a", None, 1, 2),
        get(3, "b", 2, 3, 4),
        get(4, "b", None, 1, 2),
        get(4, "a", 1, 3, 4),
    ]
    assert ok(h) is True
    assert ok(h + [get(5, "a", 2, 11, 12)]) is False   # a value from another key


def test_invalid_times_rejected():
    with pytest.raises(ValueError):
        check([put(1, "x", 1, 5, 4)], KV)
    with pytest.raises(ValueError):
        check([put(1, "x", 1, math.nan, 4)], KV)


def test_explain_mentions_key_and_ops():
    h = [put(7, "alpha", "v1", 0, 1), put(8, "alpha", "v2", 2, 3), get(9, "alpha", "v1", 4, 5)]
    res = check(h, KV)
    assert res.ok is False
    text = res.explain()
    assert "NOT linearizable" in text
    assert "key 'alpha'" in text
    assert "put('alpha', 'v2')" in text
    assert "get('alpha') -> 'v1'" in text
    assert "client 9" in text
    assert "illegal in this state" in text
    assert "linearizable" in check(h[:2], KV).explain()


# ---------------------------------------------------------------------------
# timeout

def test_timeout_gives_up():
    # 16 fully concurrent writes and a read of a value nobody wrote: showing
    # it is not linearizable means trying every subset of the writes.
    h = [put(i, "x", i, 0, 10) for i in range(16)] + [get(99, "x", -1, 0, 10)]
    res = check(h, KV, timeout=0.0)
    assert res.ok is None
    assert res.failed_partition is None
    assert "gave up" in res.explain() and "key 'x'" in res.explain()


def test_timeout_not_hit_on_easy_history():
    h = [put(1, "x", i, 2 * i, 2 * i + 1) for i in range(50)]
    assert check(h, KV, timeout=10.0).ok is True


# ---------------------------------------------------------------------------
# randomized histories

def generate(rng: random.Random, n_ops: int, n_clients: int, keys: list[str],
             p_unknown: float = 0.0, p_lost: float = 0.0,
             max_dur: float = 10.0, max_gap: float = 1.0) -> list[Operation]:
    """A history that is linearizable by construction.

    Each client issues ops one after another with random durations; each op
    takes effect at a random instant inside its interval; executing the ops
    in that order against a dict gives the outputs.  Some ops are then made
    unknown-outcome (ret = inf), either having taken effect or lost.
    """
    slots = []   # (effect time, client, call, ret)
    clock = [rng.uniform(0, max_gap) for _ in range(n_clients)]
    for i in range(n_ops):
        c = i % n_clients
        call = clock[c]
        ret = call + rng.uniform(0, max_dur)
        clock[c] = ret + rng.uniform(0, max_gap)
        slots.append((rng.uniform(call, ret), c, call, ret))
    slots.sort()
    store: dict[str, int] = {}
    counter = itertools.count()
    history = []
    for _, c, call, ret in slots:
        key = rng.choice(keys)
        cur = store.get(key)
        kind = rng.choice(["put", "put", "get", "get", "get", "cas", "delete"])
        unknown = kind != "get" and rng.random() < p_unknown
        lost = unknown and rng.random() < p_lost
        if kind == "put":
            v = next(counter)
            op = Operation(c, ("put", key, v), None, call, ret)
            if not lost:
                store[key] = v
        elif kind == "get":
            op = Operation(c, ("get", key), cur, call, ret)
        elif kind == "delete":
            op = Operation(c, ("delete", key), 0 if cur is None else 1, call, ret)
            if not lost:
                store.pop(key, None)
        else:
            expected = cur if rng.random() < 0.6 else rng.choice([None, next(counter)])
            new = next(counter) if rng.random() < 0.9 else None
            hit = expected == cur
            op = Operation(c, ("cas", key, expected, new), hit, call, ret)
            if hit and not lost:
                if new is None:
                    store.pop(key, None)
                else:
                    store[key] = new
        if unknown:
            op.ret = INF
            op.output = None
        history.append(op)
    history.sort(key=lambda o: o.call)
    return history


@pytest.mark.parametrize("seed", range(40))
def test_random_linearizable_then_corrupted(seed):
    rng = random.Random(seed)
    h = generate(rng, n_ops=rng.randint(10, 60), n_clients=rng.randint(2, 5),
                 keys=["a", "b", "c"][: rng.randint(1, 3)],
                 p_unknown=0.15 if seed % 2 else 0.0, p_lost=0.5)
    res = check(h, KV)
    assert res.ok is True, res.explain()
    reads = [op for op in h if op.input[0] == "get" and op.ret != INF]
    if not reads:  # nothing to corrupt: add a read of a key after everything else
        last = max(o.ret for o in h if o.ret != INF) if any(o.ret != INF for o in h) else 0.0
        reads = [Operation(99, ("get", "a"), None, last + 1.0, last + 2.0)]
        h.append(reads[0])
    victim = rng.choice(reads)
    victim.output = -1            # never written
    res = check(h, KV)
    assert res.ok is False
    assert victim in res.failed_partition
    assert res.failed_partition[0].input[1] == victim.input[1]


def _brute_force(history: list[Operation]) -> bool:
    """Is there an order of all ops, respecting real time, that the model
    accepts?  (Unknown-outcome ops are accepted anywhere after their call.)
    Plain exhaustive search over orders, no caching."""
    n = len(history)
    before = [{b for b in range(n) if history[b].ret < history[a].call} for a in range(n)]

    def extend(placed: frozenset, state) -> bool:
        if len(placed) == n:
            return True
        for i in range(n):
            if i not in placed and before[i] <= placed:
                legal, nstate = KV.step(state, history[i])
                if legal and extend(placed | {i}, nstate):
                    return True
        return False

    return extend(frozenset(), KV.init())


def _random_small(rng: random.Random, n: int, p_unknown: float) -> list[Operation]:
    h = []
    for c in range(n):
        call = rng.choice([0, 1, 2, 3, 4, 5])
        ret = INF if rng.random() < p_unknown else call + rng.choice([0, 1, 2, 3])
        kind = rng.choice(["put", "put", "get", "get", "cas", "delete"])
        val = rng.choice([None, 1, 2])
        if kind == "put":
            op = Operation(c, ("put", "k", rng.choice([1, 2])), None, call, ret)
        elif kind == "get":
            op = Operation(c, ("get", "k"), val, call, ret)
        elif kind == "cas":
            op = Operation(c, ("cas", "k", val, rng.choice([None, 1, 2])),
                           rng.choice([True, False, None]), call, ret)
        else:
            op = Operation(c, ("delete", "k"), rng.choice([0, 1, None]), call, ret)
        h.append(op)
    return h


@pytest.mark.parametrize("p_unknown", [0.0, 0.2, 0.5])
def test_agrees_with_brute_force(p_unknown):
    rng = random.Random(1234)
    verdicts = {True: 0, False: 0}
    for _ in range(500):
        h = _random_small(rng, rng.randint(1, 7), p_unknown)
        expected = _brute_force(h)
        got = check(h, KV).ok
        assert got is expected, "\n".join(map(repr, h))
        verdicts[expected] += 1
    # Both outcomes were actually exercised.
    assert verdicts[True] > 50 and verdicts[False] > 50


def test_agrees_with_brute_force_on_mutated_executions():
    rng = random.Random(99)
    verdicts = {True: 0, False: 0}
    for _ in range(400):
        h = generate(rng, rng.randint(2, 8), rng.randint(1, 4), ["k"], p_unknown=0.4,
                     p_lost=0.5, max_dur=rng.choice([1.0, 3.0, 10.0]))
        written = [None] + [op.input[2] for op in h if op.input[0] == "put"]
        for _ in range(rng.randint(0, 2)):
            op = rng.choice(h)
            if op.input[0] == "get":
                op.output = rng.choice(written)
            elif op.input[0] == "cas":
                op.output = rng.choice([True, False])
            elif op.input[0] == "delete":
                op.output = rng.choice([0, 1])
        expected = _brute_force(h)
        assert check(h, KV).ok is expected, "\n".join(map(repr, h))
        verdicts[expected] += 1
    assert verdicts[True] > 50 and verdicts[False] > 50


@pytest.mark.parametrize("p_unknown", [0.05, 0.4])
def test_performance_sanity_heavy_overlap(p_unknown):
    rng = random.Random(7)
    h = generate(rng, n_ops=200, n_clients=5, keys=["hot"], p_unknown=p_unknown,
                 p_lost=0.5, max_dur=10.0, max_gap=0.5)
    res = check(h, KV, timeout=30.0)
    assert res.ok is True
    # A corrupted copy must be rejected too (a full, failing search).
    reads = [op for op in h if op.input[0] == "get" and op.ret != INF]
    reads[len(reads) // 2].output = -1
    res = check(h, KV, timeout=30.0)
    assert res.ok in (False, None)
    assert isinstance(res, CheckResult)
