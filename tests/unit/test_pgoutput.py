"""The pgoutput decoder on messages captured from a real PostgreSQL 15 server.

CAPTURED was recorded with psycopg2's LogicalReplicationConnection (``decode=False``,
``proto_version=1``) while this ran on a fresh server (TimeZone=UTC)::

    CREATE TYPE mood AS ENUM ('sad', 'happy');
    CREATE TABLE u (id int PRIMARY KEY, name text, big text, m mood, n numeric(10,2));
    CREATE TABLE f (id int PRIMARY KEY, note text);  ALTER TABLE f REPLICA IDENTITY FULL;
    INSERT INTO u VALUES (1, 'one', <BIG: 12 800 characters, stored out of line>, 'happy', 1.50),
                         (2, NULL, NULL, NULL, NULL);
    UPDATE u SET name = 'uno' WHERE id = 1;   -- big unchanged and TOASTed: sent as 'u'
    UPDATE u SET id = 10 WHERE id = 2;        -- key changed: old key tuple 'K'
    INSERT INTO f VALUES (5, 'five');
    UPDATE f SET note = 'FIVE' WHERE id = 5;  -- REPLICA IDENTITY FULL: old tuple 'O'
    DELETE FROM f WHERE id = 5;               -- 'O'
    DELETE FROM u WHERE id = 10;              -- DEFAULT: old key 'K'
    -- with replication origin 'upstream' set up in the session:
    INSERT INTO f VALUES (6, 'from upstream');  -- an Origin message
    TRUNCATE u, f;

Each entry is (XLogData data_start, payload).
"""

from __future__ import annotations

import hashlib

import pytest

from connectors.postgres_cdc import pgoutput as pg
from engine.spi.errors import DataError

BIG = "".join(hashlib.md5(str(g).encode()).hexdigest() for g in range(1, 401)).encode()

CAPTURED = [
    (22080464, b"B\x00\x00\x00\x00\x01P\xedP\x00\x03\x04\xc9\x89\xd60-\x00\x00\x02\xdb"),
    (0, b"Y\x00\x00@\x01public\x00mood\x00"),
    (
        0,
        b"R\x00\x00@\x05public\x00u\x00d\x00\x05\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff\x00n"
        b"ame\x00\x00\x00\x00\x19\xff\xff\xff\xff\x00big\x00\x00\x00\x00\x19\xff\xff\xff\xff"
        b"\x00m\x00\x00\x00@\x01\xff\xff\xff\xff\x00n\x00\x00\x00\x06\xa4\x00\n\x00\x06",
    ),
    (
        22080464,
        b"I\x00\x00@\x05N\x00\x05t\x00\x00\x00\x011t\x00\x00\x00\x03onet\x00\x002\x00"
        + BIG
        + b"t\x00\x00\x00\x05happyt\x00\x00\x00\x041.50",
    ),
    (22080720, b"I\x00\x00@\x05N\x00\x05t\x00\x00\x00\x012nnnn"),
    (
        22080896,
        b"C\x00\x00\x00\x00\x00\x01P\xedP\x00\x00\x00\x00\x01P\xed\x80\x00\x03\x04\xc9\x89\xd60-",
    ),
    (22080952, b"B\x00\x00\x00\x00\x01P\xee(\x00\x03\x04\xc9\x89\xd63w\x00\x00\x02\xdc"),
    (
        22080952,
        b"U\x00\x00@\x05N\x00\x05t\x00\x00\x00\x011t\x00\x00\x00\x03unout\x00\x00\x00\x05happyt"
        b"\x00\x00\x00\x041.50",
    ),
    (22081112, b"C\x00\x00\x00\x00\x00\x01P\xee(\x00\x00\x00\x00\x01P\xeeX\x00\x03\x04\xc9\x89\xd63w"),
    (22081112, b"B\x00\x00\x00\x00\x01P\xee\xe8\x00\x03\x04\xc9\x89\xd64E\x00\x00\x02\xdd"),
    (22081112, b"U\x00\x00@\x05K\x00\x05t\x00\x00\x00\x012nnnnN\x00\x05t\x00\x00\x00\x0210nnnn"),
    (
        22081304,
        b"C\x00\x00\x00\x00\x00\x01P\xee\xe8\x00\x00\x00\x00\x01P\xef\x18\x00\x03\x04\xc9\x89\xd64E",
    ),
    (22081304, b"B\x00\x00\x00\x00\x01P\xef\xf8\x00\x03\x04\xc9\x89\xd65\xa7\x00\x00\x02\xde"),
    (
        0,
        b"R\x00\x00@\x0cpublic\x00f\x00f\x00\x02\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff\x01n"
        b"ote\x00\x00\x00\x00\x19\xff\xff\xff\xff",
    ),
    (22081304, b"I\x00\x00@\x0cN\x00\x02t\x00\x00\x00\x015t\x00\x00\x00\x04five"),
    (
        22081576,
        b"C\x00\x00\x00\x00\x00\x01P\xef\xf8\x00\x00\x00\x00\x01P\xf0(\x00\x03\x04\xc9\x89\xd65\xa7",
    ),
    (22081576, b"B\x00\x00\x00\x00\x01P\xf0\x88\x00\x03\x04\xc9\x89\xd66\x84\x00\x00\x02\xdf"),
    (
        22081576,
        b"U\x00\x00@\x0cO\x00\x02t\x00\x00\x00\x015t\x00\x00\x00\x04fiveN\x00\x02t\x00\x00\x00"
        b"\x015t\x00\x00\x00\x04FIVE",
    ),
    (
        22081720,
        b"C\x00\x00\x00\x00\x00\x01P\xf0\x88\x00\x00\x00\x00\x01P\xf0\xb8\x00\x03\x04\xc9\x89\xd66\x84",
    ),
    (22081720, b"B\x00\x00\x00\x00\x01P\xf1\x00\x00\x03\x04\xc9\x89\xd671\x00\x00\x02\xe0"),
    (22081720, b"D\x00\x00@\x0cO\x00\x02t\x00\x00\x00\x015t\x00\x00\x00\x04FIVE"),
    (
        22081840,
        b"C\x00\x00\x00\x00\x00\x01P\xf1\x00\x00\x00\x00\x00\x01P\xf10\x00\x03\x04\xc9\x89\xd671",
    ),
    (22081840, b"B\x00\x00\x00\x00\x01P\xf1p\x00\x03\x04\xc9\x89\xd67\xdd\x00\x00\x02\xe1"),
    (22081840, b"D\x00\x00@\x05K\x00\x05t\x00\x00\x00\x0210nnnn"),
    (
        22081952,
        b"C\x00\x00\x00\x00\x00\x01P\xf1p\x00\x00\x00\x00\x01P\xf1\xa0\x00\x03\x04\xc9\x89\xd67\xdd",
    ),
    (0, b"B\x00\x00\x00\x00\x01P\xf20\x00\x03\x04\xc9\x89\xd67\xdd\x00\x00\x02\xe2"),
    (22081952, b"O\x00\x00\x00\x00\x00\x00\x00\x00upstream\x00"),
    (22081952, b"I\x00\x00@\x0cN\x00\x02t\x00\x00\x00\x016t\x00\x00\x00\rfrom upstream"),
    (
        22082168,
        b"C\x00\x00\x00\x00\x00\x01P\xf20\x00\x00\x00\x00\x01P\xf2x\x00\x03\x04\xc9\x89\xd67\xdd",
    ),
    (22087984, b"B\x00\x00\x00\x00\x01Q\t`\x00\x03\x04\xc9\x89\xd6Du\x00\x00\x02\xe3"),
    (0, b"Y\x00\x00@\x01public\x00mood\x00"),
    (
        0,
        b"R\x00\x00@\x05public\x00u\x00d\x00\x05\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff\x00n"
        b"ame\x00\x00\x00\x00\x19\xff\xff\xff\xff\x00big\x00\x00\x00\x00\x19\xff\xff\xff\xff"
        b"\x00m\x00\x00\x00@\x01\xff\xff\xff\xff\x00n\x00\x00\x00\x06\xa4\x00\n\x00\x06",
    ),
    (
        0,
        b"R\x00\x00@\x0cpublic\x00f\x00f\x00\x02\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff\x01n"
        b"ote\x00\x00\x00\x00\x19\xff\xff\xff\xff",
    ),
    (22087984, b"T\x00\x00\x00\x02\x00\x00\x00@\x05\x00\x00@\x0c"),
    (22088704, b"C\x00\x00\x00\x00\x00\x01Q\t`\x00\x00\x00\x00\x01Q\x0c\x00\x00\x03\x04\xc9\x89\xd6Du"),
]
MESSAGES = [p for _, p in CAPTURED]
TAGS = "".join(chr(p[0]) for p in MESSAGES)


def of(tag: str) -> list[bytes]:
    return [p for p in MESSAGES if chr(p[0]) == tag]


def test_the_capture_has_every_message_kind() -> None:
    assert TAGS == "BYRIICBUCBUCBRICBUCBDCBDCBOICBYRRTC"


def test_begin_and_commit_agree_and_transactions_follow_each_other() -> None:
    begins = [pg.parse_begin(p) for p in of("B")]
    commits = [pg.parse_commit(p) for p in of("C")]
    assert len(begins) == len(commits) == 9
    for b, c in zip(begins, commits, strict=True):
        assert b.final_lsn == c.commit_lsn < c.end_lsn
        assert b.commit_ts_us == c.commit_ts_us
        assert abs(b.commit_ts_us / 1e6 - begins[0].commit_ts_us / 1e6) < 60  # all within a minute
        assert c.flags == 0
    assert [b.xid for b in begins] == sorted({b.xid for b in begins})
    assert all(a.end_lsn <= b.final_lsn for a, b in zip(commits, begins[1:], strict=False))
    # a Commit is sent at its end LSN, a change at its own record's LSN
    commit_lsns = [lsn for lsn, p in CAPTURED if p[:1] == b"C"]
    assert commit_lsns == [c.end_lsn for c in commits]


def test_relations_carry_names_types_typmods_and_identity() -> None:
    u, f, u2, f2 = (pg.parse_relation(p) for p in of("R"))
    assert (u.namespace, u.name, u.replica_identity) == ("public", "u", "d")
    assert [(c.name, c.type_oid, c.typmod, c.key) for c in u.columns] == [
        ("id", 23, -1, True),
        ("name", 25, -1, False),
        ("big", 25, -1, False),
        ("m", u.columns[3].type_oid, -1, False),
        ("n", 1700, (10 << 16 | 2) + 4, False),
    ]
    assert (f.name, f.replica_identity) == ("f", "f")
    assert [c.key for c in f.columns] == [True, True]  # FULL: every column is the identity
    assert (u2, f2) == (u, f)  # sent again before the truncate, unchanged
    assert u.relid != f.relid


def test_type_message_names_the_enum() -> None:
    mood = pg.parse_type(of("Y")[0])
    u = pg.parse_relation(of("R")[0])
    assert (mood.namespace, mood.name) == ("public", "mood")
    assert mood.oid == u.columns[3].type_oid


def test_origin_message() -> None:
    [origin] = [pg.parse_origin(p) for p in of("O")]
    assert TAGS[TAGS.index("O") - 1] == "B"  # right after the Begin of its transaction
    assert origin.name == "upstream"
    assert origin.commit_lsn == 0  # the session set no origin position (pg_replication_origin_xact_setup)


def test_truncate_lists_both_relations() -> None:
    [t] = [pg.parse_truncate(p) for p in of("T")]
    u, f = (pg.parse_relation(p) for p in of("R")[:2])
    assert sorted(t.relids) == sorted([u.relid, f.relid])
    assert t.options == 0


def _u_changes() -> list[bytes]:
    u = pg.parse_relation(of("R")[0])
    return [p for p in MESSAGES if p[:1] in (b"I", b"U", b"D") and pg.relid_of(p) == u.relid]


def test_decode_run_of_inserts_updates_and_deletes_with_default_identity() -> None:
    run = pg.decode_run(_u_changes(), 5)
    assert bytes(run.tags).decode() == "IIUUD"
    assert bytes(run.old_kind).replace(b"\0", b"-").decode() == "---KK"
    assert run.new.present.tolist() == [True, True, True, True, False]
    assert run.old.present.tolist() == [False, False, False, True, True]
    new = [c.to_pylist() for c in run.new.text]
    assert new == [
        ["1", "2", "1", "10", None],
        ["one", None, "uno", None, None],
        [BIG.decode(), None, None, None, None],  # unchanged TOAST on the update: not sent
        ["happy", None, "happy", None, None],
        ["1.50", None, "1.50", None, None],
    ]
    assert [None if m is None else m.tolist() for m in run.new.unchanged] == [
        None,
        None,
        [False, False, True, False, False],
        None,
        None,
    ]
    old = [c.to_pylist() for c in run.old.text]
    assert old == [[None, None, None, "2", "10"]] + [[None] * 5] * 4  # the old key only


def test_decode_run_with_full_identity_has_whole_old_rows() -> None:
    f = pg.parse_relation(of("R")[1])
    changes = [p for p in MESSAGES if p[:1] in (b"I", b"U", b"D") and pg.relid_of(p) == f.relid]
    run = pg.decode_run(changes, 2)
    assert bytes(run.tags).decode() == "IUDI"
    assert bytes(run.old_kind).replace(b"\0", b"-").decode() == "-OO-"
    assert [c.to_pylist() for c in run.old.text] == [[None, "5", "5", None], [None, "five", "FIVE", None]]
    assert [c.to_pylist() for c in run.new.text] == [
        ["5", "5", None, "6"],
        ["five", "FIVE", None, "from upstream"],
    ]


def test_decode_run_agrees_with_the_scalar_parser() -> None:
    changes = _u_changes()
    run = pg.decode_run(changes, 5)
    for i, p in enumerate(changes):
        pos = 5
        old = new = None
        if p[pos] in (pg.OLD_KEY, pg.OLD_FULL):
            old, pos = pg.parse_tuple(p, pos + 1)
        if p[0] != pg.DELETE:
            assert p[pos] == pg.NEW
            new, pos = pg.parse_tuple(p, pos + 1)
        assert pos == len(p)
        for cols, tup in ((run.new, new), (run.old, old)):
            for j, col in enumerate(cols.text):
                value = None if tup is None else tup[j]
                want = value.decode() if isinstance(value, bytes) else None
                assert col[i].as_py() == want


def test_a_run_can_start_anywhere_and_single_rows_decode() -> None:
    changes = _u_changes()
    whole = pg.decode_run(changes, 5)
    for start in range(len(changes)):
        part = pg.decode_run(changes[start:], 5)
        assert [c.to_pylist() for c in part.new.text] == [c.to_pylist()[start:] for c in whole.new.text]
        assert [c.to_pylist() for c in part.old.text] == [c.to_pylist()[start:] for c in whole.old.text]


def test_malformed_runs_are_data_errors() -> None:
    changes = _u_changes()
    with pytest.raises(DataError, match="expected 4"):
        pg.decode_run(changes, 4)
    broken = changes[1][:-1] + b"x"  # the last column kind is not n/u/t
    with pytest.raises(DataError, match="kind"):
        pg.decode_run([broken], 5)
    with pytest.raises(DataError, match="binary mode"):
        pg.parse_tuple(b"\x00\x01b", 0)


def test_lsn_text_round_trips() -> None:
    for lsn in (0, 22080464, (0x1F << 32) | 0xABCDEF01):
        assert pg.parse_lsn(pg.lsn_text(lsn)) == lsn
    assert pg.lsn_text(22080464) == "0/150EBD0"
    assert pg.lsn_text((0x1F << 32) | 0xABCDEF01) == "1F/ABCDEF01"
