"""Raft's wire and storage types: entries, hard state, snapshots and messages.

Plain dataclasses with ``to_wire``/``from_wire`` helpers so the WAL (msgpack on
disk) and member actors (Ray calls) can move them without pickling classes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

NONE = 0  # "no node": node ids start at 1


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class ConfChangeType(IntEnum):
    ADD_NODE = 0
    REMOVE_NODE = 1
    ADD_LEARNER = 2


class MsgType(IntEnum):
    # local messages (never sent over the network)
    HUP = 0             # start an election (or pre-election)
    BEAT = 1            # leader: send heartbeats
    PROP = 2            # proposal (followers forward to the leader)
    # network messages
    APP = 3             # AppendEntries
    APP_RESP = 4
    VOTE = 5
    VOTE_RESP = 6
    PRE_VOTE = 7
    PRE_VOTE_RESP = 8
    SNAP = 9            # InstallSnapshot
    HEARTBEAT = 10
    HEARTBEAT_RESP = 11
    TRANSFER_LEADER = 12
    TIMEOUT_NOW = 13
    READ_INDEX = 14
    READ_INDEX_RESP = 15
    SNAP_STATUS = 16    # local: application reports a snapshot send failure
    UNREACHABLE = 17    # local: application reports a peer unreachable


@dataclass(slots=True)
class Entry:
    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""

    def to_wire(self) -> list:
        return [self.term, self.index, int(self.type), self.data]

    @staticmethod
    def from_wire(w: list) -> "Entry":
        return Entry(w[0], w[1], EntryType(w[2]), w[3])

    def size(self) -> int:
        return len(self.data) + 24


@dataclass(slots=True)
class HardState:
    term: int = 0
    vote: int = NONE
    commit: int = 0

    def to_wire(self) -> list:
        return [self.term, self.vote, self.commit]

    @staticmethod
    def from_wire(w: list) -> "HardState":
        return HardState(w[0], w[1], w[2])

    def is_empty(self) -> bool:
        return self.term == 0 and self.vote == NONE and self.commit == 0


@dataclass(slots=True)
class ConfState:
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()

    def to_wire(self) -> list:
        return [list(self.voters), list(self.learners)]

    @staticmethod
    def from_wire(w: list) -> "ConfState":
        return ConfState(tuple(w[0]), tuple(w[1]))


@dataclass(slots=True)
class ConfChange:
    type: ConfChangeType
    node_id: int
    context: bytes = b""

    def encode(self) -> bytes:
        import msgpack
        return msgpack.packb([int(self.type), self.node_id, self.context])

    @staticmethod
    def decode(data: bytes) -> "ConfChange":
        import msgpack
        t, n, c = msgpack.unpackb(data)
        return ConfChange(ConfChangeType(t), n, c)


@dataclass(slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)

    def to_wire(self) -> list:
        return [self.index, self.term, self.conf_state.to_wire()]

    @staticmethod
    def from_wire(w: list) -> "SnapshotMeta":
        return SnapshotMeta(w[0], w[1], ConfState.from_wire(w[2]))


@dataclass(slots=True)
class Snapshot:
    meta: SnapshotMeta = field(default_factory=SnapshotMeta)
    data: bytes = b""

    def to_wire(self) -> list:
        return [self.meta.to_wire(), self.data]

    @staticmethod
    def from_wire(w: list) -> "Snapshot":
        return Snapshot(SnapshotMeta.from_wire(w[0]), w[1])

    def is_empty(self) -> bool:
        return self.meta.index == 0


@dataclass(slots=True)
class Message:
    type: MsgType
    to: int = NONE
    frm: int = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""

    def to_wire(self) -> list:
        return [
            int(self.type), self.to, self.frm, self.term, self.log_term, self.index,
            [e.to_wire() for e in self.entries], self.commit, self.reject,
            self.reject_hint, self.snapshot.to_wire() if self.snapshot else None,
            self.context,
        ]

    @staticmethod
    def from_wire(w: list) -> "Message":
        return Message(
            MsgType(w[0]), w[1], w[2], w[3], w[4], w[5],
            [Entry.from_wire(e) for e in w[6]], w[7], w[8], w[9],
            Snapshot.from_wire(w[10]) if w[10] is not None else None, w[11],
        )


@dataclass(slots=True)
class ReadState:
    """A confirmed ReadIndex: reads tagged ``context`` may be served once
    the local applied index reaches ``index``."""
    index: int
    context: bytes
