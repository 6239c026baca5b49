"""The in-memory Raft log of one node: snapshot offset, entries, and the
stable / committed / applied cursors.

Invariant: ``applied <= committed``; entries up to ``stable`` are durable;
entries are handed out for applying only up to ``min(committed, stable)``.
"""
from __future__ import annotations

from .raftpb import Entry, Snapshot


class LogError(Exception):
    """A Raft invariant would be broken (a bug or a corrupted peer)."""


class RaftLog:
    __slots__ = ("snap_index", "snap_term", "entries", "stable", "committed",
                 "applied", "pending_snapshot")

    def __init__(self, snap_index: int = 0, snap_term: int = 0,
                 entries: list[Entry] | None = None) -> None:
        self.snap_index = snap_index
        self.snap_term = snap_term
        self.entries: list[Entry] = list(entries or [])
        if self.entries and self.entries[0].index != snap_index + 1:
            raise LogError(f"log starts at {self.entries[0].index}, snapshot at {snap_index}")
        self.stable = self.last_index()
        self.committed = snap_index
        self.applied = snap_index
        self.pending_snapshot: Snapshot | None = None  # received, not yet persisted

    # ---- queries -----------------------------------------------------------
    def last_index(self) -> int:
        return self.snap_index + len(self.entries)

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snap_term

    def first_index(self) -> int:
        return self.snap_index + 1

    def term(self, index: int) -> int | None:
        """Term of ``index``; None when compacted away or beyond the log."""
        if index == self.snap_index:
            return self.snap_term
        off = index - self.snap_index - 1
        if off < 0 or off >= len(self.entries):
            return None
        return self.entries[off].term

    def matches(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Is a candidate's log at least as up to date as ours (§5.4.1)."""
        lt = self.last_term()
        return last_term > lt or (last_term == lt and last_index >= self.last_index())

    def slice(self, lo: int, hi: int, max_bytes: int = 0) -> list[Entry]:
        """Entries [lo, hi); at least one entry, then up to ``max_bytes``."""
        if lo < self.first_index():
            raise LogError(f"slice from compacted index {lo}")
        base = self.snap_index + 1
        ents = self.entries[lo - base: hi - base]
        if max_bytes and len(ents) > 1:
            size = 0
            for i, e in enumerate(ents):
                size += e.size()
                if size > max_bytes and i > 0:
                    return ents[:i]
        return ents

    def unstable_entries(self) -> list[Entry]:
        return self.entries[self.stable - self.snap_index:]

    def next_committed(self) -> list[Entry]:
        """Committed, durable, not yet applied entries."""
        hi = min(self.committed, self.stable)
        if hi <= self.applied:
            return []
        base = self.snap_index + 1
        return self.entries[self.applied + 1 - base: hi + 1 - base]

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Largest index <= ``index`` whose term is <= ``term`` (fast backtracking)."""
        index = min(index, self.last_index())
        while index > self.snap_index:
            t = self.term(index)
            if t is not None and t <= term:
                break
            index -= 1
        return index

    # ---- mutations ---------------------------------------------------------
    def append(self, entries: list[Entry]) -> int:
        """Leader append (no conflicts possible); returns the new last index."""
        if entries and entries[0].index != self.last_index() + 1:
            raise LogError(f"append at {entries[0].index}, last is {self.last_index()}")
        self.entries.extend(entries)
        return self.last_index()

    def maybe_append(self, prev_index: int, prev_term: int, committed: int,
                     entries: list[Entry]) -> int | None:
        """Follower append after the (prev_index, prev_term) check; returns the
        last index known to match the leader, or None on mismatch."""
        if not self.matches(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        # find the first conflicting entry; entries before it are duplicates
        for i, e in enumerate(entries):
            if e.index <= self.snap_index:
                continue
            t = self.term(e.index)
            if t != e.term:
                if t is not None and e.index <= self.committed:
                    raise LogError(f"conflict at committed index {e.index}")
                self._truncate_and_append(entries[i:])
                break
        self.commit_to(min(committed, last_new))
        return last_new

    def _truncate_and_append(self, entries: list[Entry]) -> None:
        first = entries[0].index
        del self.entries[first - self.snap_index - 1:]
        if self.stable >= first:
            self.stable = first - 1
        self.entries.extend(entries)

    def commit_to(self, index: int) -> bool:
        if index > self.committed:
            if index > self.last_index():
                raise LogError(f"commit {index} beyond last index {self.last_index()}")
            self.committed = index
            return True
        return False

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to ``index`` were persisted (if not overwritten since)."""
        if self.term(index) == term and index > self.stable:
            self.stable = index

    def applied_to(self, index: int) -> None:
        if index > self.applied:
            self.applied = index

    def restore(self, snap: Snapshot) -> None:
        """Replace the log with a received snapshot."""
        self.snap_index = snap.meta.index
        self.snap_term = snap.meta.term
        self.entries = []
        self.stable = snap.meta.index
        self.committed = snap.meta.index
        self.pending_snapshot = snap

    def compact_to(self, index: int) -> None:
        """Drop entries up to ``index`` (covered by a local snapshot)."""
        if index <= self.snap_index:
            return
        if index > self.applied:
            raise LogError(f"compact {index} beyond applied {self.applied}")
        t = self.term(index)
        assert t is not None
        del self.entries[: index - self.snap_index]
        self.snap_index, self.snap_term = index, t
