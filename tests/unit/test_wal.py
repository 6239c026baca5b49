"""Unit tests for raftstore.wal: durability, recovery, torn tails and corruption."""
from __future__ import annotations

import logging
import os
import shutil
import struct
from pathlib import Path

import crc32c
import msgpack
import pytest

from raftstore.raftpb import ConfState, Entry, EntryType, HardState, Snapshot, SnapshotMeta
from raftstore.wal import WAL, WALError

META = b"member-7"


def ents(lo: int, hi: int, term: int = 1) -> list[Entry]:
    """Entries lo..hi inclusive with payloads that identify them."""
    return [Entry(term, i, EntryType.NORMAL, f"t{term}-i{i}".encode()) for i in range(lo, hi + 1)]


def segments(d) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.endswith(".wal"))


def snap_files(d) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.endswith(".snap"))


def frames(path) -> list[tuple[int, int]]:
    """(offset, total length) of every record in a segment, per the documented framing."""
    data = Path(path).read_bytes()
    out, off = [], 0
    while off < len(data):
        length, _ = struct.unpack_from("<II", data, off)
        out.append((off, 8 + length))
        off += 8 + length
    assert off == len(data)
    return out


def flip_bit(path, offset: int, bit: int = 0) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ (1 << bit)]))


def make_snapshot(index: int, term: int, data: bytes = b"state") -> Snapshot:
    return Snapshot(SnapshotMeta(index, term, ConfState((1, 2, 3), (4,))), data)


# ---------------------------------------------------------------- round trip

def test_fresh_directory(tmp_path):
    d = tmp_path / "wal"
    w = WAL.open(str(d), META)
    r = w.recovered
    assert (r.metadata, r.hard_state, r.snapshot, r.entries, r.torn_tail) == (META, HardState(), None, [], False)
    assert w.last_index == 0
    assert w.load_snapshot() is None
    assert len(segments(d)) == 1
    w.close()
    w = WAL.open(str(d), META)
    assert w.recovered.entries == [] and w.recovered.hard_state == HardState()


def test_round_trip_with_overwrite(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(1, 2, 0), ents(1, 5))
    w.save(None, ents(6, 10))
    w.save(HardState(1, 2, 4), [])
    # A new leader overwrites the uncommitted suffix starting at 8.
    w.save(HardState(2, 3, 7), ents(8, 9, term=2))
    w.save(None, ents(10, 12, term=2))
    assert w.last_index == 12
    w.close()

    w = WAL.open(d, META)
    r = w.recovered
    assert r.hard_state == HardState(2, 3, 7)
    assert r.entries == ents(1, 7) + ents(8, 12, term=2)
    assert r.snapshot is None and not r.torn_tail
    assert w.last_index == 12
    # Overwrite again after reopening, shrinking the log.
    w.save(HardState(3, 1, 7), ents(9, 9, term=3))
    w.close()
    r = WAL.open(d, META).recovered
    assert r.entries == ents(1, 7) + ents(8, 8, term=2) + ents(9, 9, term=3)
    assert r.hard_state == HardState(3, 1, 7)


def test_recovered_hard_state_is_not_aliased(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(1, 1, 0), ents(1, 1))
    w.close()
    w = WAL.open(d, META)
    hs = w.recovered.hard_state
    hs.term = 5  # caller mutates its copy, then saves it: must be written
    w.save(hs, [])
    w.close()
    assert WAL.open(d, META).recovered.hard_state == HardState(5, 1, 0)


def test_metadata_mismatch(tmp_path):
    d = str(tmp_path / "wal")
    WAL.open(d, META).close()
    with pytest.raises(WALError, match="metadata"):
        WAL.open(d, b"member-8")


def test_save_rejects_gap_and_noncontiguous(tmp_path):
    w = WAL.open(str(tmp_path / "wal"), META)
    w.save(None, ents(1, 3))
    with pytest.raises(ValueError):
        w.save(None, ents(5, 6))
    with pytest.raises(ValueError):
        w.save(None, [Entry(1, 4), Entry(1, 6)])
    assert w.last_index == 3


# -------------------------------------------------------------- group commit

def test_group_commit_one_write_one_fsync(tmp_path, monkeypatch):
    w = WAL.open(str(tmp_path / "wal"), META)
    calls = {"fsync": 0, "write": 0}
    real_fsync, real_write = os.fsync, os.write

    def fsync(fd):
        calls["fsync"] += 1
        return real_fsync(fd)

    def write(fd, data):
        calls["write"] += 1
        return real_write(fd, data)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "write", write)
    before = w.sync_count
    w.save(HardState(1, 1, 0), ents(1, 500))
    assert calls == {"fsync": 1, "write": 1}
    assert w.sync_count == before + 1
    # Empty calls and unchanged hard state cost nothing.
    w.save(None, [])
    w.save(HardState(1, 1, 0), [])
    assert calls == {"fsync": 1, "write": 1}
    monkeypatch.undo()
    w.close()
    assert WAL.open(str(tmp_path / "wal"), META).recovered.entries == ents(1, 500)


# ------------------------------------------------------ rotation and release

def test_rotation_recovers_everything(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META, segment_bytes=250)
    for i in range(1, 201, 5):
        w.save(HardState(1, 1, i), ents(i, i + 4))
    w.save(None, ents(190, 195, term=2))  # overwrite spanning a segment boundary
    w.close()
    names = segments(d)
    assert len(names) > 10
    for k, name in enumerate(names):
        assert int(name[:16], 16) == k
    w = WAL.open(d, META, segment_bytes=250)
    assert w.recovered.entries == ents(1, 189) + ents(190, 195, term=2)
    assert w.recovered.hard_state == HardState(1, 1, 196)
    assert w.last_index == 195


def test_snapshot_and_release(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META, segment_bytes=400)
    for i in range(1, 101, 4):
        w.save(HardState(2, 1, i + 3), ents(i, i + 3, term=2))
    w.save_snapshot(make_snapshot(40, 2, b"old"))
    for i in range(101, 201, 4):
        w.save(None, ents(i, i + 3, term=2))
    w.save(HardState(3, 2, 180), [])
    w.save_snapshot(make_snapshot(150, 2, b"new"))
    w.save(None, ents(201, 210, term=3))
    w.close()
    # Release from a reopened WAL: it must know its snapshot from recovery.
    w = WAL.open(d, META, segment_bytes=400)
    n_before = len(segments(d))
    assert snap_files(d) == ["snap-%016x-%016x.snap" % (2, 40), "snap-%016x-%016x.snap" % (2, 150)]

    w.release_to(150)
    after = segments(d)
    assert len(after) < n_before - 5
    # The first kept segment starts no later than just after the snapshot.
    assert int(after[0][17:33], 16) - 1 <= 150
    assert snap_files(d) == ["snap-%016x-%016x.snap" % (2, 150)]
    w.save(None, ents(211, 212, term=3))
    w.close()

    w = WAL.open(d, META, segment_bytes=400)
    r = w.recovered
    assert r.hard_state == HardState(3, 2, 180)
    assert r.snapshot == SnapshotMeta(150, 2, ConfState((1, 2, 3), (4,)))
    assert r.entries == ents(151, 200, term=2) + ents(201, 212, term=3)
    assert w.load_snapshot() == make_snapshot(150, 2, b"new")
    # Releasing past the snapshot is clamped to it: entries after 150 survive.
    w.release_to(10**9)
    w.close()
    r = WAL.open(d, META, segment_bytes=400).recovered
    assert r.entries == ents(151, 200, term=2) + ents(201, 212, term=3)
    assert r.hard_state == HardState(3, 2, 180)


def test_release_keeps_hard_state_and_marker_in_segment_header(tmp_path):
    """With a rotation after every record, the marker and hard state survive a
    release only through the header of the segment created after them."""
    d = str(tmp_path / "wal")
    w = WAL.open(d, META, segment_bytes=1)
    for i in range(1, 61, 3):
        w.save(HardState(4, 2, i), ents(i, i + 2, term=4))
    w.save_snapshot(make_snapshot(60, 4))
    n = len(segments(d))
    w.release_to(60)
    assert len(segments(d)) == 1 and n > 20
    w.close()
    w = WAL.open(d, META, segment_bytes=1)
    r = w.recovered
    assert r.hard_state == HardState(4, 2, 58)
    assert r.snapshot.index == 60 and r.entries == []
    w.save(None, ents(61, 62, term=5))
    w.close()
    assert WAL.open(d, META).recovered.entries == ents(61, 62, term=5)


def test_release_without_snapshot_deletes_nothing(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META, segment_bytes=200)
    for i in range(1, 40):
        w.save(None, ents(i, i))
    n = len(segments(d))
    w.release_to(30)
    assert len(segments(d)) == n
    w.close()
    assert WAL.open(d, META).recovered.entries == ents(1, 39)


def test_snapshot_beyond_log(tmp_path):
    """A follower installs a leader snapshot far past its own log."""
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(1, 1, 3), ents(1, 5))
    w.save_snapshot(make_snapshot(100, 3))
    assert w.last_index == 100
    with pytest.raises(ValueError):
        w.save(None, ents(103, 104, term=3))
    w.save(HardState(3, 0, 100), ents(99, 102, term=3))  # at/below the snapshot: dropped
    w.close()
    w = WAL.open(d, META)
    assert w.recovered.snapshot.index == 100
    assert w.recovered.entries == ents(101, 102, term=3)
    assert w.last_index == 102
    w.save(None, ents(100, 103, term=4))  # index 100 is covered by the snapshot
    w.close()
    assert WAL.open(d, META).recovered.entries == ents(101, 103, term=4)


def test_installed_snapshot_from_another_history_replaces_the_log(tmp_path):
    """Our entry at the snapshot's index has another term: everything after
    it came from a history the cluster did not keep, so it must not come back."""
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(2, 1, 3), ents(1, 3) + ents(4, 10, term=2))
    w.save_snapshot(make_snapshot(6, 3))      # the cluster's index 6 has term 3
    w.close()
    w = WAL.open(d, META)
    assert w.recovered.snapshot.index == 6
    assert w.recovered.entries == []
    w.save(None, ents(7, 8, term=3))
    w.close()
    assert WAL.open(d, META).recovered.entries == ents(7, 8, term=3)


def test_local_snapshot_keeps_the_entries_after_it(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(2, 1, 8), ents(1, 3) + ents(4, 10, term=2))
    w.save_snapshot(make_snapshot(6, 2))      # our own state at index 6
    w.close()
    assert WAL.open(d, META).recovered.entries == ents(7, 10, term=2)


# ----------------------------------------------------------------- torn tail

def _build(d) -> tuple[str, int, int]:
    """A WAL whose last record is a batch of entries; returns (segment, boundary, end)."""
    w = WAL.open(d, META)
    w.save(HardState(1, 1, 0), ents(1, 3))
    w.save(HardState(2, 1, 2), ents(4, 6, term=2))
    seg = os.path.join(d, segments(d)[0])
    boundary = os.path.getsize(seg)
    w.save(HardState(2, 1, 5), ents(7, 8, term=2))
    end = os.path.getsize(seg)
    w.close()
    return seg, boundary, end


def test_torn_tail_every_offset(tmp_path, caplog):
    src = str(tmp_path / "src")
    seg, boundary, end = _build(src)
    expected_entries = ents(1, 3) + ents(4, 6, term=2)
    assert end - boundary > 20
    for cut in range(boundary, end):
        d = str(tmp_path / f"cut{cut}")
        shutil.copytree(src, d)
        path = os.path.join(d, os.path.basename(seg))
        os.truncate(path, cut)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="raftstore.wal"):
            w = WAL.open(d, META)
        r = w.recovered
        assert r.entries == expected_entries, cut
        assert r.hard_state == HardState(2, 1, 2), cut
        assert r.torn_tail == (cut != boundary), cut
        assert any("torn" in m for m in caplog.messages) == (cut != boundary)
        assert os.path.getsize(path) == boundary  # truncated away
        assert w.last_index == 6
        w.save(HardState(3, 2, 6), ents(7, 7, term=3))
        w.close()
        r = WAL.open(d, META).recovered
        assert not r.torn_tail
        assert r.entries == expected_entries + ents(7, 7, term=3)
        assert r.hard_state == HardState(3, 2, 6)


@pytest.mark.parametrize("how", ["zero-fill", "payload-bitflip", "crc-bitflip"])
def test_damaged_last_record_is_torn(tmp_path, how):
    """The final record failing its CRC with nothing after it was never acknowledged."""
    d = str(tmp_path / "wal")
    seg, boundary, end = _build(d)
    if how == "zero-fill":
        with open(seg, "r+b") as f:
            f.seek(boundary)
            f.write(b"\0" * (end - boundary))
    elif how == "payload-bitflip":
        flip_bit(seg, end - 3, 5)
    else:
        flip_bit(seg, boundary + 5, 2)
    w = WAL.open(d, META)
    assert w.recovered.torn_tail
    assert w.recovered.entries == ents(1, 3) + ents(4, 6, term=2)


def test_torn_tail_on_last_of_many_segments(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META, segment_bytes=200)
    for i in range(1, 30):
        w.save(HardState(1, 1, i), ents(i, i))
    w.close()
    w = WAL.open(d, META)  # large segments: the next record stays in the last segment
    w.save(HardState(1, 1, 30), ents(30, 30))
    w.close()
    assert len(segments(d)) >= 5
    last = os.path.join(d, segments(d)[-1])
    off, length = frames(last)[-1]
    assert off > 0
    os.truncate(last, off + length - 1)
    r = WAL.open(d, META, segment_bytes=200).recovered
    assert r.torn_tail and r.entries == ents(1, 29)
    assert r.hard_state == HardState(1, 1, 29)


# ---------------------------------------------------------------- corruption

@pytest.mark.parametrize(
    "where,byte,bit",
    [
        ("length", 0, 0),   # length off by one
        ("length", 0, 4),   # length shorter/longer by 16
        ("length", 3, 7),   # length runs far past EOF
        ("length", 1, 6),
        ("crc", 0, 1),
        ("crc", 3, 7),
        ("payload", 0, 0),  # msgpack array header
        ("payload", 5, 3),
        ("payload", -1, 7),
    ],
)
def test_corruption_in_middle_raises(tmp_path, where, byte, bit):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(1, 1, 0), ents(1, 10))
    w.save(HardState(1, 1, 5), ents(11, 20))
    w.save(HardState(1, 1, 15), ents(21, 30))
    w.save(None, ents(31, 31))
    w.close()
    seg = os.path.join(d, segments(d)[0])
    recs = frames(seg)
    off, length = recs[2]  # the batch 11..20: data follows it
    pos = {"length": off + byte, "crc": off + 4 + byte,
           "payload": off + 8 + byte if byte >= 0 else off + length + byte}[where]
    flip_bit(seg, pos, bit)
    with pytest.raises(WALError) as err:
        WAL.open(d, META)
    msg = str(err.value)
    assert os.path.basename(seg) in msg
    assert f"offset {off}" in msg
    # Nothing was truncated: the acknowledged records are all still there.
    assert os.path.getsize(seg) == sum(n for _, n in recs)


def test_corruption_in_non_last_segment_raises(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META, segment_bytes=200)
    for i in range(1, 31):
        w.save(HardState(1, 1, i), ents(i, i))
    w.close()
    names = segments(d)
    assert len(names) >= 3
    victim = os.path.join(d, names[1])
    off, length = frames(victim)[-1]
    backup = Path(victim).read_bytes()

    flip_bit(victim, off + length - 2, 1)  # last record of a non-last segment
    with pytest.raises(WALError) as err:
        WAL.open(d, META, segment_bytes=200)
    assert names[1] in str(err.value) and f"offset {off}" in str(err.value)

    with open(victim, "wb") as f:  # a torn-looking end is still fatal outside the last segment
        f.write(backup[: off + length - 1])
    with pytest.raises(WALError) as err:
        WAL.open(d, META, segment_bytes=200)
    assert names[1] in str(err.value) and f"offset {off}" in str(err.value)


def test_segment_sequence_gap_raises(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META, segment_bytes=200)
    for i in range(1, 31):
        w.save(None, ents(i, i))
    w.close()
    names = segments(d)
    os.unlink(os.path.join(d, names[2]))
    with pytest.raises(WALError) as err:
        WAL.open(d, META)
    assert names[3] in str(err.value) and "offset 0" in str(err.value)


def test_undecodable_payload_with_valid_crc_raises(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(None, ents(1, 2))
    w.close()
    seg = os.path.join(d, segments(d)[0])
    end = os.path.getsize(seg)
    for payload in (b"\xc1", msgpack.packb({"x": 1}), msgpack.packb([1, None, [[1, 3, 99, b""]]])):
        with open(seg, "r+b") as f:
            f.truncate(end)
            f.seek(end)
            f.write(struct.pack("<II", len(payload), crc32c.crc32c(payload)) + payload)
        with pytest.raises(WALError) as err:
            WAL.open(d, META)
        assert os.path.basename(seg) in str(err.value) and f"offset {end}" in str(err.value)


# ------------------------------------------------------- snapshot atomicity

def test_leftover_temp_files_are_ignored(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(1, 1, 5), ents(1, 10))
    w.save_snapshot(make_snapshot(5, 1, b"five"))
    w.close()
    # Crash debris: a half-written snapshot and a half-created segment.
    Path(d, "snap-%016x-%016x.snap.tmp" % (1, 9)).write_bytes(b"\x01\x02garbage")
    Path(d, "%016x-%016x.wal.tmp" % (1, 11)).write_bytes(b"\x00" * 5)
    w = WAL.open(d, META)
    assert w.recovered.snapshot.index == 5
    assert w.recovered.entries == ents(6, 10)
    assert w.load_snapshot() == make_snapshot(5, 1, b"five")
    assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
    w.save(None, ents(11, 11))
    w.close()
    assert WAL.open(d, META).recovered.entries == ents(6, 11)


def test_snapshot_file_without_marker_is_ignored(tmp_path):
    """Crash after the snapshot file was renamed but before its marker was logged."""
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(1, 1, 9), ents(1, 10))
    w.save_snapshot(make_snapshot(4, 1, b"four"))
    w.close()
    payload = msgpack.packb(make_snapshot(9, 1, b"nine").to_wire(), use_bin_type=True)
    with open(os.path.join(d, "snap-%016x-%016x.snap" % (1, 9)), "wb") as f:
        f.write(struct.pack("<I", crc32c.crc32c(payload)) + payload)
    w = WAL.open(d, META)
    assert w.recovered.snapshot.index == 4
    assert w.recovered.entries == ents(5, 10)
    assert w.load_snapshot().data == b"four"


def test_corrupt_newest_snapshot_falls_back(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(1, 1, 30), ents(1, 30))
    w.save_snapshot(make_snapshot(10, 1, b"ten"))
    w.save_snapshot(make_snapshot(20, 1, b"twenty"))
    w.close()
    newest = os.path.join(d, "snap-%016x-%016x.snap" % (1, 20))
    flip_bit(newest, os.path.getsize(newest) - 1, 0)

    w = WAL.open(d, META)
    assert w.recovered.snapshot.index == 10
    assert w.recovered.entries == ents(11, 30)
    assert w.load_snapshot() == make_snapshot(10, 1, b"ten")
    w.close()
    # Same result through load_snapshot's own scan (no cached copy).
    w = WAL.open(d, META)
    w.load_snapshot()
    assert w.load_snapshot().data == b"ten"


def test_corrupt_only_snapshot_raises(tmp_path):
    d = str(tmp_path / "wal")
    w = WAL.open(d, META)
    w.save(HardState(1, 1, 30), ents(1, 30))
    w.save_snapshot(make_snapshot(10, 1))
    w.save(None, ents(31, 32))
    w.release_to(10)
    w.close()
    path = os.path.join(d, "snap-%016x-%016x.snap" % (1, 10))
    flip_bit(path, 6, 0)
    with pytest.raises(WALError, match="snapshot"):
        WAL.open(d, META)


def test_closed_wal_rejects_writes(tmp_path):
    w = WAL.open(str(tmp_path / "wal"), META)
    w.close()
    with pytest.raises(WALError):
        w.save(None, ents(1, 1))
