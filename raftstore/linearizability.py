"""Linearizability checking of client histories recorded by the raftstore simulator.

A history is a list of :class:`Operation` s, each with the real-time interval
``[call, ret]`` during which a client had it outstanding and the output the
client saw.  It is linearizable iff the operations can be put in one sequential
order that (a) respects real time -- if ``a.ret < b.call`` then ``a`` comes
before ``b`` -- and (b) is a legal run of the sequential :class:`Model`.

The search is the Wing & Gong backtracking algorithm with Lowe's memoization:

* every operation contributes a *call* entry and a *return* entry; all entries
  sit in one doubly linked list sorted by time;
* walking the list from its head, a call entry is an operation that may take
  effect now: if the model accepts it, it is *lifted* (its call and return
  entries are unlinked), pushed on a stack, and the walk restarts at the head;
* reaching a return entry means that operation had to be linearized before
  anything later could be: pop the last choice, *unlift* it and try the next
  call after it;
* a cache of ``(set of linearized ops as an int bitset, model state)`` pairs
  prunes configurations that were already explored (a configuration reached a
  second time either failed before or is on the current path).

Histories are split by the model into independent partitions (for the
key-value model: one per key); the history is linearizable iff every
partition is, which keeps the bitsets small and the search cheap.

Time conventions
----------------
* ``a`` precedes ``b`` iff ``a.ret < b.call``.  Equal times count as
  *overlapping*: at equal time stamps call entries sort before return entries,
  so an operation returning at ``t`` is concurrent with one called at ``t``.
* ``ret == math.inf`` marks an operation whose outcome is unknown (the client
  timed out or crashed).  It may take effect at any point after its call, or
  never; taking effect after everything else is the same as never, because no
  later operation can observe it.  Its output is ignored and the model must
  accept it in any state (applying whatever effect it has there).

Unknown outcomes
----------------
Unknown-outcome ops never block anything (their return is at infinity), so
they are kept out of the linked list, and the search needs only the
known-outcome ops linearized: whatever unknown ops are left over go at the
end.  Three things keep them from multiplying the search space:

* Dominance instead of equality in the cache.  Having applied an unknown op
  only removes options (it could always have been left for the end), so from
  ``(known ops K, applied unknown ops U, state s)`` every way to finish is
  also one from ``(K, U', s)`` for any ``U'`` inside ``U``.  The cache maps
  ``(K, s)`` to the ``U`` s it was reached with, and a configuration is pruned
  when one with a subset of its ``U`` was already registered.
* Known ops first, then a breadth-first closure.  Only once a configuration's
  known candidates are exhausted does the search compute, breadth first, all
  configurations reachable from it by applying unknown ops (those called no
  later than the first return left in the list), and tries each of those
  with known ops only.  Breadth first registers small ``U`` s before their
  supersets, which is what makes the dominance check bite.
* Unknown ops with equal inputs are interchangeable once called, so only the
  earliest-called unapplied one of each such group is ever tried (a timed-out
  delete that was retried, several timed-out deletes of one key, ...).  This
  relies on the model's verdict and effect for an unknown-outcome op
  depending on its input alone, as the :class:`Model` contract says.
"""
from __future__ import annotations

import math
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Hashable, Protocol

__all__ = ["Operation", "Model", "CheckResult", "check", "KVModel"]


@dataclass(slots=True)
class Operation:
    """One client operation: what was asked, what was seen, and when."""

    client_id: int
    input: Any          # model-specific
    output: Any         # model-specific; ignored when ret is math.inf
    call: float
    ret: float          # math.inf = unknown outcome


class Model(Protocol):
    """The sequential specification a history is checked against.

    Models may also define ``describe_partition(ops) -> str`` (e.g. "key 'a'")
    and ``describe_state(state) -> str``; :meth:`CheckResult.explain` uses them
    when present.
    """

    def partition(self, history: list[Operation]) -> list[list[Operation]]: ...

    def init(self) -> Hashable: ...

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        """Is op (with its output) legal in state; the state after it. If op.ret is inf the output is unknown: accept and apply the effect."""
        # For unknown-outcome ops the result must depend on op.input alone.
        ...

    def describe(self, op: Operation) -> str: ...


@dataclass
class CheckResult:
    ok: bool | None              # None = gave up (timeout)
    failed_partition: list[Operation] | None   # the partition that is not linearizable
    longest_prefix: list[Operation] | None     # ops of the longest linearization found in it (for the error report)
    partitions: int              # partitions the model split the history into
    ops: int                     # operations in the history
    # Not part of the comparison: used by explain().
    model: Any = field(default=None, repr=False, compare=False)
    undecided_partition: list[Operation] | None = field(default=None, repr=False, compare=False)
    elapsed: float = field(default=0.0, compare=False)

    def explain(self) -> str:
        """A human-readable report; for a failure, the partition, the longest
        linearizable prefix, why nothing can follow it, and the partition's ops."""
        if self.ok:
            return (f"linearizable: {self.ops} ops in {self.partitions} partitions "
                    f"(checked in {self.elapsed:.3f}s)")
        if self.ok is None:
            where = ""
            if self.undecided_partition:
                where = f" while checking {_partition_label(self.model, self.undecided_partition)}"
            return (f"gave up (timeout after {self.elapsed:.3f}s){where}: "
                    f"{self.ops} ops in {self.partitions} partitions, not fully checked")
        return _explain_failure(self)


# ---------------------------------------------------------------------------
# The checker

_TIMEOUT_EVERY = 1024   # search steps between deadline checks


def check(history: list[Operation], model: Model, timeout: float | None = None) -> CheckResult:
    """Check ``history`` against ``model``.

    Partitions are checked smallest first (so that, under a timeout, a definite
    violation is found before a big partition eats the budget); the first
    non-linearizable partition is reported.  ``timeout`` (seconds, for the whole
    check) makes the result ``ok=None`` when exceeded.
    """
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    parts = [p for p in model.partition(history) if p]
    order = sorted(range(len(parts)), key=lambda i: len(parts[i]))
    nparts, nops = len(parts), len(history)
    for i in order:
        part = parts[i]
        if deadline is not None and time.monotonic() > deadline:
            return CheckResult(None, None, None, nparts, nops, model, part,
                               time.monotonic() - start)
        status, prefix = _check_partition(part, model, deadline)
        if status is None:
            return CheckResult(None, None, None, nparts, nops, model, part,
                               time.monotonic() - start)
        if not status:
            return CheckResult(False, part, [part[j] for j in prefix], nparts, nops,
                               model, None, time.monotonic() - start)
    return CheckResult(True, None, None, nparts, nops, model, None, time.monotonic() - start)


def _check_partition(ops: list[Operation], model: Model,
                     deadline: float | None) -> tuple[bool | None, list[int]]:
    """Search one partition (see the module docstring).  Returns (verdict,
    the linearized prefix that got furthest, as indices into ops); verdict
    None means the deadline passed.  "Furthest" counts known-outcome ops."""
    known: list[int] = []
    unk: list[int] = []
    for i, op in enumerate(ops):
        c, r = op.call, op.ret
        if c != c or r != r or c == math.inf:
            raise ValueError(f"bad times on operation {op!r}")
        if r < c:
            raise ValueError(f"operation returns before its call: {op!r}")
        (unk if r == math.inf else known).append(i)
    if not known:
        return True, []

    # The list of known ops' entries.  Calls before returns at equal times:
    # such ops overlap.
    events = [(ops[i].call, 0, i) for i in known] + [(ops[i].ret, 1, i) for i in known]
    events.sort()
    m = len(events)
    head, tail = m, m + 1
    is_call = [False] * m
    etime = [0.0] * m
    eop: list[Any] = [None] * m          # the Operation of each entry
    opidx = [0] * m
    match = [0] * m                      # call entry -> its return entry
    bit = [0] * m
    call_entry: dict[int, int] = {}
    for j, (t, is_ret, i) in enumerate(events):
        eop[j] = ops[i]
        etime[j] = t
        opidx[j] = i
        bit[j] = 1 << i
        if is_ret:
            match[call_entry[i]] = j
        else:
            is_call[j] = True
            call_entry[i] = j
    nxt = list(range(1, m + 1)) + [0, 0]
    prv = [head] + list(range(0, m - 1)) + [0, m - 1]
    nxt[head] = 0
    nxt[m - 1] = tail

    # The unknown-outcome ops, by call time; bit u of lin_u is unk[u].
    unk.sort(key=lambda i: (ops[i].call, i))
    n_unk = len(unk)
    uop = [ops[i] for i in unk]
    ucall = [op.call for op in uop]
    # Unknown ops with equal inputs are interchangeable once called, so only
    # the earliest-called one not yet applied is tried: earlier[u] is the
    # bitset of the ops before u in its class, which must all be applied
    # before u may be.  (Applied sets then always hold a prefix of each class,
    # which also lets the dominance check compare them directly.)
    earlier = [0] * n_unk
    classes: dict[Any, int] = {}
    for u, op in enumerate(uop):
        try:
            prev = classes.get(op.input, 0)
        except TypeError:          # unhashable input: a class of its own
            continue
        earlier[u] = prev
        classes[op.input] = prev | (1 << u)

    step = model.step
    state = model.init()
    lin_k = 0                # bitset of linearized known ops (bit = op index)
    lin_u = 0                # bitset of applied unknown ops
    # The stack of choices.  A known op: its list entry (int).  A closure
    # member: (the unknown ops it applies as positions in unk, the closure,
    # the member's position in it, lin_u before it).
    stack_e: list[Any] = []
    stack_s: list[Any] = []      # the state before the choice
    depth = 0                    # known ops linearized on the current path
    # The path that linearized the most known ops (for the report).
    best: list[Any] = []
    best_len = 0
    seen: set = set()
    # With unknown ops: (lin_k, state) -> the lin_u bitsets registered with it.
    dom: dict = {(0, state): [0]} if n_unk else {}
    visits = 0                   # steps taken, for the deadline checks
    next_check = _TIMEOUT_EVERY
    mono = time.monotonic

    def prefix() -> list[int]:
        out = []
        for x in best:
            if x.__class__ is int:
                out.append(opidx[x])
            else:
                out.extend(unk[u] for u in x[0])
        return out

    entry = nxt[head]
    while True:
        visits += 1
        if visits >= next_check and deadline is not None:
            next_check = visits + _TIMEOUT_EVERY
            if mono() > deadline:
                return None, prefix()
        if is_call[entry]:
            legal, new_state = step(state, eop[entry])
            if legal:
                nk = lin_k | bit[entry]
                key = (nk, new_state)
                if n_unk:
                    masks = dom.get(key)
                    if masks is None:
                        dom[key] = [lin_u]
                        fresh = True
                    else:
                        nu = lin_u
                        for mk in masks:
                            if not (mk & ~nu):
                                fresh = False
                                break
                        else:
                            masks.append(nu)
                            fresh = True
                else:
                    fresh = key not in seen
                    if fresh:
                        seen.add(key)
                if fresh:
                    stack_e.append(entry)
                    stack_s.append(state)
                    state = new_state
                    lin_k = nk
                    # lift: unlink the call entry and its return entry
                    p = prv[entry]
                    q = nxt[entry]
                    nxt[p] = q
                    prv[q] = p
                    r = match[entry]
                    p = prv[r]
                    q = nxt[r]
                    nxt[p] = q
                    prv[q] = p
                    depth += 1
                    if depth > best_len:
                        best_len = depth
                        best = stack_e[:]
                    entry = nxt[head]
                    if entry == tail:
                        # Every known op is linearized; unknown ones left
                        # over take effect at the end, i.e. never.
                        return True, prefix()
                    continue
            entry = nxt[entry]
            continue

        # A return entry: the known candidates here are exhausted.
        if n_unk and not (stack_e and stack_e[-1].__class__ is tuple):
            # Not itself a closure member: explore this configuration's closure.
            top = bisect_right(ucall, etime[entry])
            closure: list[tuple] = []
            frontier: list[tuple] = [(state, lin_u, ())]
            while frontier and top:
                grown = []
                for st, mk0, seq in frontier:
                    # most recently called first: an unknown op usually took
                    # effect soon after its call, if at all
                    for u in range(top - 1, -1, -1):
                        b = 1 << u
                        if mk0 & b or (mk0 & earlier[u]) != earlier[u]:
                            continue
                        visits += 1
                        legal, ns = step(st, uop[u])
                        if not legal:
                            continue
                        nu = mk0 | b
                        key = (lin_k, ns)
                        masks = dom.get(key)
                        if masks is None:
                            dom[key] = [nu]
                        else:
                            dominated = False
                            for mk in masks:
                                if not (mk & ~nu):
                                    dominated = True
                                    break
                            if dominated:
                                continue
                            masks.append(nu)
                        item = (ns, nu, seq + (u,))
                        closure.append(item)
                        grown.append(item)
                frontier = grown
            if closure:
                ns, nu, seq = closure[0]
                stack_e.append((seq, closure, 0, lin_u))
                stack_s.append(state)
                state = ns
                lin_u = nu
                entry = nxt[head]
                continue

        # Backtrack: undo the last choice and take the next one.
        while True:
            if not stack_e:
                return False, prefix()
            x = stack_e.pop()
            state = stack_s.pop()
            if x.__class__ is int:
                depth -= 1
                lin_k ^= bit[x]
                # unlift, in the reverse order of lifting
                r = match[x]
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                nxt[prv[x]] = x
                prv[nxt[x]] = x
                entry = nxt[x]
                break
            _, closure, idx, lin_u = x
            idx += 1
            if idx < len(closure):
                ns, nu, seq = closure[idx]
                stack_e.append((seq, closure, idx, lin_u))
                stack_s.append(state)
                state = ns
                lin_u = nu
                entry = nxt[head]
                break


# ---------------------------------------------------------------------------
# Reports

def _partition_label(model: Any, ops: list[Operation]) -> str:
    fn = getattr(model, "describe_partition", None)
    if fn is not None:
        try:
            return str(fn(ops))
        except Exception:  # a report must never fail because of a label
            pass
    return f"partition of {len(ops)} ops"


def _fmt_time(t: float) -> str:
    return "inf" if t == math.inf else f"{t:.6g}"


def _fmt_op(model: Any, op: Operation) -> str:
    desc = model.describe(op) if model is not None else repr(op.input)
    return f"client {op.client_id:<3} [{_fmt_time(op.call)}, {_fmt_time(op.ret)}]  {desc}"


def _explain_failure(res: CheckResult) -> str:
    model = res.model
    part = res.failed_partition or []
    prefix = res.longest_prefix or []
    describe_state = getattr(model, "describe_state", repr)
    lines = [
        f"NOT linearizable: {_partition_label(model, part)} ({len(part)} ops) has no "
        f"valid linearization ({res.ops} ops in {res.partitions} partitions).",
        f"Longest linearizable prefix ({len(prefix)} of {len(part)} ops):",
    ]
    state = model.init() if model is not None else None
    for n, op in enumerate(prefix, 1):
        if model is not None:
            _, state = model.step(state, op)
        lines.append(f"  {n:>4}. {_fmt_op(model, op)}")
    if model is not None:
        lines.append(f"State after it: {describe_state(state)}")
    in_prefix = {id(op) for op in prefix}
    rest = [op for op in part if id(op) not in in_prefix]
    if rest and model is not None:
        first_ret = min(op.ret for op in rest)
        lines.append("No op can come next (the ops that could):")
        for op in sorted(rest, key=lambda o: (o.call, o.ret)):
            if op.call > first_ret:
                continue
            legal, _ = model.step(state, op)
            why = "every continuation after it fails" if legal else "illegal in this state"
            lines.append(f"        {_fmt_op(model, op)}   <- {why}")
    lines.append("All ops of the partition by call time (* = in the prefix):")
    for op in sorted(part, key=lambda o: (o.call, o.ret)):
        mark = "*" if id(op) in in_prefix else " "
        lines.append(f"     {mark} {_fmt_op(model, op)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Key-value register model

class KVModel:
    """A key-value store checked one key at a time; the state of a partition is
    the key's current value (None = absent).  Values must be hashable.

    Inputs:
      ("put", key, value)             output ignored; key := value
      ("get", key)                    output: the value, None if absent
      ("delete", key)                 output: number deleted (0/1), None if unknown; key absent
      ("cas", key, expected, new)     output True/False; succeeds iff value == expected
                                      (None = absent); on success key := new (None = delete)

    Gets with unknown outcome say nothing and are dropped by :meth:`partition`.
    A cas or delete whose output is None (with a known return) is treated as of
    unknown outcome: accepted, with its effect applied as the state dictates.
    """

    def partition(self, history: list[Operation]) -> list[list[Operation]]:
        parts: dict[Any, list[Operation]] = {}
        inf = math.inf
        for op in history:
            inp = op.input
            if inp[0] == "get" and op.ret == inf:
                continue
            p = parts.get(inp[1])
            if p is None:
                parts[inp[1]] = [op]
            else:
                p.append(op)
        return list(parts.values())

    def init(self) -> Hashable:
        return None

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        inp = op.input
        kind = inp[0]
        if kind == "get":
            if op.ret == math.inf:
                return True, state
            return op.output == state, state
        if kind == "put":
            return True, inp[2]
        if kind == "cas":
            hit = state == inp[2]
            out = op.output
            if op.ret == math.inf or out is None:
                return True, (inp[3] if hit else state)
            if out:
                return hit, inp[3]
            return not hit, state
        if kind == "delete":
            out = op.output
            if op.ret == math.inf or out is None:
                return True, None
            return out == (0 if state is None else 1), None
        raise ValueError(f"unknown kv operation {inp!r}")

    def describe(self, op: Operation) -> str:
        inp = op.input
        kind = inp[0]
        unknown = op.ret == math.inf

        def out(v: Any) -> str:  # cas / delete result; None = not reported
            return "?" if unknown or v is None else repr(v)

        if kind == "put":
            return f"put({inp[1]!r}, {inp[2]!r})" + (" -> ?" if unknown else "")
        if kind == "get":
            seen = "?" if unknown else ("<absent>" if op.output is None else repr(op.output))
            return f"get({inp[1]!r}) -> {seen}"
        if kind == "delete":
            return f"delete({inp[1]!r}) -> {out(op.output)}"
        if kind == "cas":
            return f"cas({inp[1]!r}, {inp[2]!r} => {inp[3]!r}) -> {out(op.output)}"
        return repr(inp)

    def describe_partition(self, ops: list[Operation]) -> str:
        return f"key {ops[0].input[1]!r}" if ops else "empty partition"

    def describe_state(self, state: Hashable) -> str:
        return "<absent>" if state is None else repr(state)
