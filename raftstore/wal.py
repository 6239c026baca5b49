"""Write-ahead log for a raftstore member: hard state, entries and snapshot markers.

Raft may only answer a peer (grant a vote, acknowledge an append) after the state
behind that answer is durable, so every ``save`` ends in an fsync. To keep that
affordable, one ``save`` carries a whole Ready batch (hard state plus any number
of entries) as a single record: one ``write`` and one fsync per batch.

On-disk layout (all in one directory):

* ``<seq:016x>-<first_index:016x>.wal`` segments. ``seq`` counts up with no gaps;
  ``first_index`` is the index the next appended entry had when the segment was
  created. Each segment starts with a header record holding the directory's
  metadata, the hard state and the effective snapshot marker at creation time,
  so every segment before it can be released once a snapshot covers it.
* ``snap-<term:016x>-<index:016x>.snap`` snapshot files: 4-byte little-endian
  CRC32C of the payload, then the msgpack payload ``Snapshot.to_wire()``.

Record framing: 4-byte little-endian payload length, 4-byte little-endian CRC32C
of the payload, msgpack payload. Payloads are small lists:

* ``[0, metadata, hard_state, snapshot_meta | None]`` segment header
* ``[1, hard_state | None, [entry, ...]]``            one save() batch
* ``[2, snapshot_meta]``                              snapshot marker

Segment headers are written to a temporary file, fsync'd and renamed into place,
so a header can never be torn: only the last record of the last segment can be
(a crash in the middle of a ``save``). Such a record was never acknowledged and
is cut off on open. Any other damage means acknowledged data is unreadable and
``open`` refuses with a ``WALError`` naming the file and byte offset.
"""
from __future__ import annotations

import logging
import os
import re
import struct
from dataclasses import dataclass, field

import crc32c
import msgpack

from raftstore.raftpb import Entry, HardState, Snapshot, SnapshotMeta

log = logging.getLogger(__name__)

__all__ = ["WAL", "WALError", "Recovered"]

_REC_HEADER = 0
_REC_SAVE = 1
_REC_SNAP = 2

_FRAME = struct.Struct("<II")          # payload length, payload CRC32C
_SNAP_CRC = struct.Struct("<I")
_SEG_RE = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.wal$")
_SNAP_RE = re.compile(r"^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$")
_TMP_SUFFIX = ".tmp"


class WALError(Exception):
    """The log cannot be used without risking loss of acknowledged data."""


@dataclass
class Recovered:
    """What ``WAL.open`` replayed from disk.

    ``snapshot`` is the newest snapshot marker whose snapshot file is intact
    (normally simply the newest marker); ``entries`` follow it contiguously.
    """
    metadata: bytes
    hard_state: HardState = field(default_factory=HardState)
    snapshot: SnapshotMeta | None = None
    entries: list[Entry] = field(default_factory=list)
    torn_tail: bool = False


@dataclass
class _Segment:
    seq: int
    first_index: int
    path: str
    markers: set[tuple[int, int]] = field(default_factory=set)  # (index, term)


def _seg_name(seq: int, first_index: int) -> str:
    return f"{seq:016x}-{first_index:016x}.wal"


def _snap_name(term: int, index: int) -> str:
    return f"snap-{term:016x}-{index:016x}.snap"


def _frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), crc32c.crc32c(payload)) + payload


def _pack(obj: list) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _copy_meta(meta: SnapshotMeta) -> SnapshotMeta:
    return SnapshotMeta.from_wire(meta.to_wire())


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _frame_problem(data: bytes, off: int) -> tuple[int, str | None]:
    """Check the frame at ``off``; return (end offset, None) or (-1, reason)."""
    n = len(data)
    if n - off < _FRAME.size:
        return -1, "short record header"
    length, crc = _FRAME.unpack_from(data, off)
    if length == 0:
        return -1, "zero record length"
    end = off + _FRAME.size + length
    if end > n:
        return -1, f"record length {length} runs past end of file ({n} bytes)"
    if crc32c.crc32c(memoryview(data)[off + _FRAME.size:end]) != crc:
        return -1, "record CRC mismatch"
    return end, None


def _decodes(payload: bytes | memoryview) -> bool:
    try:
        obj = msgpack.unpackb(payload)
    except Exception:
        return False
    return isinstance(obj, list) and bool(obj) and obj[0] in (_REC_HEADER, _REC_SAVE, _REC_SNAP)


def _valid_record_after(data: bytes, off: int) -> int | None:
    """Offset of an intact record right after the bad one at ``off``, if any.

    A torn write leaves a prefix of one record and nothing after it. Damage to
    an acknowledged record instead leaves later records intact; they sit either
    where the (possibly damaged) length field says the record ends, or where
    the record's self-delimiting msgpack payload actually ends (covers a
    damaged length field). Finding an intact record at either place proves
    this is not a torn tail, so truncating would drop acknowledged data.
    """
    n = len(data)
    start = off + _FRAME.size
    candidates: list[int] = []
    if n - off >= _FRAME.size:
        length, _ = _FRAME.unpack_from(data, off)
        if length and start + length < n:
            candidates.append(start + length)
    if start < n:
        unpacker = msgpack.Unpacker(max_buffer_size=max(n - start, 1))
        unpacker.feed(data[start:])
        try:
            unpacker.unpack()
            candidates.append(start + unpacker.tell())
        except Exception:
            pass
    for c in candidates:
        if c <= off or c >= n:
            continue
        end, problem = _frame_problem(data, c)
        if problem is None and _decodes(memoryview(data)[c + _FRAME.size:end]):
            return c
    return None


def batch_problem(batch: list[Entry], last_index: int) -> str | None:
    """Why a batch cannot follow a log ending at ``last_index`` (None if it can)."""
    first = batch[0].index
    if first > last_index + 1:
        return f"entry {first} leaves a gap after index {last_index}"
    for k in range(1, len(batch)):
        if batch[k].index != first + k:
            return f"entries not contiguous at index {batch[k].index}"
    return None


class _Replay:
    """Replays records into (hard state, markers, entries) while checking the
    log stays contiguous. Entries below snapshot markers are kept (as far as
    they are contiguous) so ``open`` can fall back to an older snapshot when
    the newest snapshot file turns out to be damaged."""

    def __init__(self, base: int) -> None:
        self.hard_state = HardState()
        self.markers: dict[tuple[int, int], SnapshotMeta] = {}
        self.base = base               # entries[0].index == base + 1
        self.entries: list[Entry] = []

    @property
    def last_index(self) -> int:
        return self.base + len(self.entries)

    def marker(self, meta: SnapshotMeta) -> None:
        self.markers[(meta.index, meta.term)] = meta
        off = meta.index - self.base - 1
        if meta.index > self.last_index or (off >= 0 and self.entries[off].term != meta.term):
            # A snapshot installed from the leader replaces the log: either it
            # jumps past it, or our entry at its index is from another history
            # (then nothing after that entry is part of the log either).
            self.entries = []
            self.base = meta.index

    def append(self, batch: list[Entry], where: str) -> None:
        first = batch[0].index
        problem = batch_problem(batch, self.last_index)
        if problem:
            raise WALError(f"{where}: {problem}")
        if first <= self.base:
            self.entries = list(batch)
            self.base = first - 1
        else:
            del self.entries[first - self.base - 1:]
            self.entries.extend(batch)


class WAL:
    """Append-only, fsync'd log of one raftstore member's durable Raft state.

    ``sync_count`` counts every fsync issued (segment files, snapshot files and
    the directory), so callers and tests can check the cost of a save. Not
    thread-safe: one member actor owns one WAL.
    """

    recovered: Recovered

    def __init__(self, dirpath: str, metadata: bytes, segment_bytes: int) -> None:
        self.dirpath = dirpath
        self.metadata = metadata
        self.segment_bytes = segment_bytes
        self.sync_count = 0            # every fsync (files and directory)
        self._fd: int | None = None
        self._size = 0                 # bytes in the current (last) segment
        self._segments: list[_Segment] = []
        self._hs = HardState()
        self._last_index = 0
        self._snap: SnapshotMeta | None = None      # effective snapshot (file known good)
        self._snap_cache: Snapshot | None = None    # read during open, handed out once
        self._failed: str | None = None

    # ------------------------------------------------------------------ open

    @classmethod
    def open(cls, dirpath: str, metadata: bytes = b"", *, segment_bytes: int = 64 << 20) -> "WAL":
        """Create the directory/WAL if absent, else recover it. If it exists with different metadata -> WALError."""
        wal = cls(dirpath, metadata, segment_bytes)
        if not os.path.isdir(dirpath):
            os.makedirs(dirpath)
            wal._sync_dir(os.path.dirname(os.path.abspath(dirpath)))
        wal._remove_temp_files()
        segs = wal._list_segments()
        if not segs:
            wal.recovered = Recovered(metadata=metadata)
            wal._create_segment(0, 1)
        else:
            wal._recover(segs)
        return wal

    def _remove_temp_files(self) -> None:
        """Temp files are half-written segments or snapshots from a crash; they
        were never renamed into place, so nothing refers to them."""
        removed = False
        for name in os.listdir(self.dirpath):
            stem = name[: -len(_TMP_SUFFIX)]
            if name.endswith(_TMP_SUFFIX) and (_SEG_RE.match(stem) or _SNAP_RE.match(stem)):
                os.unlink(os.path.join(self.dirpath, name))
                removed = True
        if removed:
            self._sync_dir(self.dirpath)

    def _list_segments(self) -> list[_Segment]:
        segs = []
        for name in os.listdir(self.dirpath):
            m = _SEG_RE.match(name)
            if m:
                segs.append(_Segment(int(m[1], 16), int(m[2], 16), os.path.join(self.dirpath, name)))
        segs.sort(key=lambda s: s.seq)
        for prev, cur in zip(segs, segs[1:]):
            if cur.seq != prev.seq + 1:
                raise WALError(f"{cur.path}: offset 0: segment sequence gap "
                               f"(previous segment is {os.path.basename(prev.path)})")
        return segs

    def _recover(self, segs: list[_Segment]) -> None:
        replay = _Replay(base=segs[0].first_index - 1)
        torn = False
        for i, seg in enumerate(segs):
            is_last = i == len(segs) - 1
            if i > 0 and seg.first_index != replay.last_index + 1:
                raise WALError(f"{seg.path}: offset 0: segment starts at index {seg.first_index} "
                               f"but the log before it ends at {replay.last_index}")
            torn = self._replay_segment(seg, replay, is_last)

        # Read (and CRC-check) the snapshot now: which one is intact decides
        # where the entries start. It is kept until load_snapshot() takes it.
        snap = self._choose_snapshot(replay.markers)
        snap_index = snap.meta.index if snap else 0
        if replay.base > snap_index:
            raise WALError(f"{segs[0].path}: offset 0: entries {snap_index + 1}..{replay.base} "
                           f"are missing (not covered by an intact snapshot)")
        entries = replay.entries[snap_index - replay.base:]
        self._segments = segs
        # Private copies: callers may mutate what they get in ``recovered``.
        self._hs = HardState(*replay.hard_state.to_wire())
        self._last_index = replay.last_index
        self._snap = _copy_meta(snap.meta) if snap else None
        self._snap_cache = snap
        self.recovered = Recovered(self.metadata, replay.hard_state,
                                   snap.meta if snap else None, entries, torn)
        last = segs[-1]
        self._fd = os.open(last.path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def _replay_segment(self, seg: _Segment, replay: _Replay, is_last: bool) -> bool:
        """Apply one segment's records; returns True if a torn tail was cut off."""
        with open(seg.path, "rb") as f:
            data = f.read()
        view = memoryview(data)
        off = 0
        while off < len(data):
            end, problem = _frame_problem(data, off)
            if problem is not None:
                if not is_last or off == 0:
                    raise WALError(f"{seg.path}: offset {off}: {problem}")
                nxt = _valid_record_after(data, off)
                if nxt is not None:
                    raise WALError(f"{seg.path}: offset {off}: {problem}, "
                                   f"yet an intact record follows at offset {nxt}")
                self._truncate(seg.path, off, problem, len(data))
                return True
            self._apply(view[off + _FRAME.size:end], seg, replay, off, first=off == 0)
            off = end
        if off == 0:
            raise WALError(f"{seg.path}: offset 0: empty segment (missing header record)")
        return False

    def _apply(self, payload: memoryview, seg: _Segment, replay: _Replay, off: int, first: bool) -> None:
        where = f"{seg.path}: offset {off}"
        try:
            rec = msgpack.unpackb(payload)
            kind = rec[0]
            if first != (kind == _REC_HEADER):
                raise WALError(f"{where}: " + ("segment does not start with a header record"
                                               if first else "unexpected header record"))
            if kind == _REC_HEADER:
                _, metadata, hs, snap = rec
                if metadata != self.metadata:
                    raise WALError(f"{where}: metadata mismatch: WAL has {metadata!r}, "
                                   f"opened with {self.metadata!r}")
                replay.hard_state = HardState.from_wire(hs)
                if snap is not None:
                    meta = SnapshotMeta.from_wire(snap)
                    seg.markers.add((meta.index, meta.term))
                    replay.marker(meta)
            elif kind == _REC_SAVE:
                _, hs, ents = rec
                if hs is not None:
                    replay.hard_state = HardState.from_wire(hs)
                if ents:
                    replay.append([Entry.from_wire(e) for e in ents], where)
            elif kind == _REC_SNAP:
                meta = SnapshotMeta.from_wire(rec[1])
                seg.markers.add((meta.index, meta.term))
                replay.marker(meta)
            else:
                raise WALError(f"{where}: unknown record type {kind!r}")
        except WALError:
            raise
        except Exception as exc:  # msgpack errors, wrong shapes, bad enum values
            raise WALError(f"{where}: undecodable record: {exc!r}") from exc

    def _truncate(self, path: str, off: int, problem: str, size: int) -> None:
        log.warning("WAL %s: torn last record at offset %d (%s); truncating %d bytes",
                    path, off, problem, size - off)
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, off)
            self._sync(fd)
        finally:
            os.close(fd)

    def _choose_snapshot(self, markers: dict[tuple[int, int], SnapshotMeta]) -> Snapshot | None:
        """Newest snapshot with a marker in the WAL and an intact file."""
        if not markers:
            return None
        for index, term in sorted(markers, reverse=True):
            snap = self._read_snapshot(term, index)
            if snap is not None:
                return snap
        raise WALError(f"{self.dirpath}: offset 0: no intact snapshot file for any snapshot "
                       f"marker in the WAL {sorted(markers)}")

    # ------------------------------------------------------------- snapshots

    def _read_snapshot(self, term: int, index: int) -> Snapshot | None:
        path = os.path.join(self.dirpath, _snap_name(term, index))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            log.warning("WAL %s: snapshot file %s missing", self.dirpath, path)
            return None
        problem = None
        if len(data) < _SNAP_CRC.size:
            problem = "short file"
        elif crc32c.crc32c(memoryview(data)[_SNAP_CRC.size:]) != _SNAP_CRC.unpack_from(data)[0]:
            problem = "CRC mismatch"
        else:
            try:
                snap = Snapshot.from_wire(msgpack.unpackb(memoryview(data)[_SNAP_CRC.size:]))
                if (snap.meta.index, snap.meta.term) != (index, term):
                    problem = f"holds snapshot {snap.meta.index}/{snap.meta.term}"
            except Exception as exc:
                problem = f"undecodable: {exc!r}"
        if problem:
            log.warning("WAL %s: skipping damaged snapshot file %s (offset 0: %s)",
                        self.dirpath, path, problem)
            return None
        return snap

    def save_snapshot(self, snap: Snapshot) -> None:
        """Write snapshot file atomically (temp file, fsync, rename, fsync dir), then append a snapshot
        marker record (SnapshotMeta) to the WAL and fsync. Replay after that discards entries <= snap index.

        The file goes first so that a marker in the WAL always has its file; a
        crash in between leaves a file without marker, which is ignored."""
        self._check_usable()
        meta = snap.meta
        if self._snap is not None and meta.index < self._snap.index:
            raise ValueError(f"snapshot at index {meta.index} is older than saved snapshot {self._snap.index}")
        name = _snap_name(meta.term, meta.index)
        path = os.path.join(self.dirpath, name)
        tmp = path + _TMP_SUFFIX
        payload = _pack(snap.to_wire())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, _SNAP_CRC.pack(crc32c.crc32c(payload)) + payload)
                self._sync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            self._sync_dir(self.dirpath)
        except OSError as exc:
            raise WALError(f"{path}: offset 0: writing snapshot failed: {exc}") from exc
        self._append(_pack([_REC_SNAP, meta.to_wire()]))
        self._segments[-1].markers.add((meta.index, meta.term))
        self._snap = _copy_meta(meta)
        self._snap_cache = None
        self._last_index = max(self._last_index, meta.index)
        self._maybe_rotate()

    def load(self) -> tuple[HardState, Snapshot | None, list[Entry]]:
        """What ``open`` recovered, as a Raft node restarts from it."""
        r = self.recovered
        return r.hard_state, self.load_snapshot(), list(r.entries)

    def load_snapshot(self) -> Snapshot | None:
        """Newest snapshot whose file is intact and whose marker is in the WAL (verify the file's own CRC)."""
        cached, self._snap_cache = self._snap_cache, None
        if cached is not None and self._snap is not None and cached.meta == self._snap:
            return cached
        markers: dict[tuple[int, int], SnapshotMeta] = {}
        for seg in self._segments:
            for key in seg.markers:
                markers[key] = SnapshotMeta(key[0], key[1])
        return self._choose_snapshot(markers)

    # ----------------------------------------------------------------- write

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool = True) -> None:
        """Append one record (hard state and/or entries), then exactly ONE fsync (group commit). Empty call = no-op.
        ``sync=False`` skips the fsync (for a commit-index-only change, which the next synced save
        carries to disk; losing it in a crash loses nothing acknowledged).

        Entries may start at an index <= the last saved one: that truncates the log logically (on replay a
        later entry at index i discards entries >= i written before it). Entries at or below the snapshot
        index are already covered by the snapshot and are dropped."""
        self._check_usable()
        if hard_state is not None and hard_state == self._hs:
            hard_state = None
        if entries:
            first = entries[0].index
            problem = batch_problem(entries, self._last_index)
            if problem:
                raise ValueError(problem)
            floor = self._snap.index if self._snap else 0
            if first <= floor:
                entries = entries[floor - first + 1:]
        if hard_state is None and not entries:
            return
        self._append(_pack([_REC_SAVE,
                            hard_state.to_wire() if hard_state is not None else None,
                            [e.to_wire() for e in entries]]), sync)
        if hard_state is not None:
            self._hs = HardState(hard_state.term, hard_state.vote, hard_state.commit)
        if entries:
            self._last_index = entries[-1].index
        self._maybe_rotate()

    def _append(self, payload: bytes, sync: bool = True) -> None:
        """One write + one fsync for one record."""
        rec = _frame(payload)
        try:
            _write_all(self._fd, rec)
            if sync:
                self._sync(self._fd)
        except OSError as exc:
            # A partial write would sit in front of every later record and
            # turn into mid-log corruption; cut it off and stop accepting writes.
            self._failed = f"write failed: {exc}"
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise WALError(f"{self._segments[-1].path}: offset {self._size}: {self._failed}") from exc
        self._size += len(rec)

    def _header(self) -> bytes:
        snap = self._snap.to_wire() if self._snap else None
        return _frame(_pack([_REC_HEADER, self.metadata, self._hs.to_wire(), snap]))

    def _create_segment(self, seq: int, first_index: int) -> None:
        """Write header to a temp file, fsync, rename, fsync dir: a segment
        therefore always exists with a complete header or not at all."""
        path = os.path.join(self.dirpath, _seg_name(seq, first_index))
        tmp = path + _TMP_SUFFIX
        header = self._header()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, header)
                self._sync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, path)
            self._sync_dir(self.dirpath)
            new_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            self._failed = f"creating segment failed: {exc}"
            raise WALError(f"{path}: offset 0: {self._failed}") from exc
        if self._fd is not None:
            os.close(self._fd)
        self._fd = new_fd
        self._size = len(header)
        seg = _Segment(seq, first_index, path)
        if self._snap is not None:
            seg.markers.add((self._snap.index, self._snap.term))
        self._segments.append(seg)

    def _maybe_rotate(self) -> None:
        """Called once the writer state reflects the last record, since the
        new segment's header must carry the current hard state and snapshot."""
        if self._size > self.segment_bytes:
            self._create_segment(self._segments[-1].seq + 1, self._last_index + 1)

    # --------------------------------------------------------------- release

    def release_to(self, index: int) -> None:
        """Delete whole segments that hold only records made obsolete by a snapshot marker at >= index, and
        older snapshot files. Never deletes anything needed to recover hard state, the newest snapshot
        marker, or entries > the snapshot index.

        Segment j can become the first segment iff its header-time log end
        (first_index - 1) is covered by the snapshot and the snapshot's marker
        lives in segment j or later: replay from j then yields the same state."""
        self._check_usable()
        if self._snap is None:
            return
        upto = min(index, self._snap.index)
        key = (self._snap.index, self._snap.term)
        cut = 0
        seen = False
        for j in range(len(self._segments) - 1, 0, -1):
            seg = self._segments[j]
            seen = seen or key in seg.markers
            if seen and seg.first_index - 1 <= upto:
                cut = j
                break
        # Oldest first, syncing the directory after each unlink, so a crash
        # never leaves a hole in the segment sequence.
        for seg in self._segments[:cut]:
            os.unlink(seg.path)
            self._sync_dir(self.dirpath)
        del self._segments[:cut]
        removed = False
        for name in os.listdir(self.dirpath):
            m = _SNAP_RE.match(name)
            if m and int(m[2], 16) < upto:
                os.unlink(os.path.join(self.dirpath, name))
                removed = True
        if removed:
            self._sync_dir(self.dirpath)

    # ---------------------------------------------------------------- misc

    @property
    def last_index(self) -> int:
        """Index of the last entry in the log (or the snapshot index if none follow it)."""
        return self._last_index

    @property
    def hard_state(self) -> HardState:
        return self._hs

    @property
    def snapshot(self) -> SnapshotMeta | None:
        """The snapshot the log currently starts after."""
        return self._snap

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._failed = self._failed or "closed"

    def __enter__(self) -> "WAL":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise WALError(f"{self.dirpath}: WAL unusable ({self._failed})")

    def _sync(self, fd: int) -> None:
        os.fsync(fd)
        self.sync_count += 1

    def _sync_dir(self, path: str) -> None:
        _fsync_dir(path)
        self.sync_count += 1
