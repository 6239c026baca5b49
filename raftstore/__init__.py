"""raftstore: the etcd stand-in — pure Raft, a write-ahead log, a revisioned
key-value store, and the tools that check them (simulator, linearizability)."""
from .linearizability import KVModel, Operation, check
from .mvcc import CompactedError, Lessor, MVCCStore, encode_entry, prefix_end
from .raft import Config, NotLeader, ProposalDropped, RaftNode, Ready, StateType
from .raftpb import (
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message,
    MsgType, ReadState, Snapshot, SnapshotMeta,
)
from .wal import WAL, Recovered, WALError

__all__ = [
    "CompactedError", "Config", "ConfChange", "ConfChangeType", "ConfState", "Entry",
    "EntryType", "HardState", "KVModel", "Lessor", "MVCCStore", "Message", "MsgType",
    "NotLeader", "Operation", "ProposalDropped", "RaftNode", "ReadState", "Ready",
    "Recovered", "Snapshot", "SnapshotMeta", "StateType", "WAL", "WALError", "check",
    "encode_entry", "prefix_end",
]
