"""TimestampRouter: Kafka's TimestampRouterTest and SimpleDateFormat patterns, per batch."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from engine.spi.errors import ConfigError, DataError
from engine.spi.record import make_batch
from engine.transforms.timestamp_router import TimestampRouter

from ._kv_support import assert_rowwise, assert_sliced, configured


def routed(config: dict[str, str], topics: list[str], stamps: list[int | None]) -> list[str]:
    b = make_batch(topic=pa.array(topics, pa.string()), value=list(range(len(topics))), timestamp=stamps)
    return configured(TimestampRouter, config).apply(b).column("topic").to_pylist()


def test_default_configuration() -> None:
    assert routed({}, ["test"], [1483425001864]) == ["test-20170103"]


@pytest.mark.parametrize(
    ("topic_format", "timestamp_format", "expected"),
    [
        ("${topic}-${timestamp}", "yyyyMMdd", "test-20170103"),
        ("${timestamp}", "yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2017-01-03T06:30:01.864+0000"),
        ("${topic}_${topic}", "yyyy", "test_test"),
        ("static", "yyyy", "static"),
        ("${topic}.${timestamp}.${timestamp}", "yy-MMM-d HH'h'", "test.17-Jan-3 06h.17-Jan-3 06h"),
        ("${topic}-${timestamp}", "EEEE w", None),
    ],
)
def test_formats(topic_format: str, timestamp_format: str, expected: str | None) -> None:
    config = {"topic.format": topic_format, "timestamp.format": timestamp_format}
    if expected is None:
        with pytest.raises(ConfigError, match=r"timestamp\.format: pattern letter 'w'"):
            routed(config, ["test"], [1483425001864])
        return
    assert routed(config, ["test"], [1483425001864]) == [expected]


def test_many_topics_and_days_in_one_batch() -> None:
    day = 86_400_000
    topics = ["a", "b", "a", "a", "b", "c"]
    stamps = [0, 0, day, day + 5, -1, 1483425001864]
    assert routed({}, topics, stamps) == [
        "a-19700101",
        "b-19700101",
        "a-19700102",
        "a-19700102",
        "b-19691231",
        "c-20170103",
    ]


def test_distinct_instants_take_the_kernel_path() -> None:
    n = 5000
    stamps = (1_700_000_000_000 + np.arange(n) * 7).tolist()
    config = {"timestamp.format": "HH:mm:ss.SSS"}
    out = routed(config, ["t"] * n, stamps)
    assert (
        out[0] == "t-22:13:20.000"
        and out[-1] == f"t-22:13:{20 + (n - 1) * 7 // 1000}.{(n - 1) * 7 % 1000:03d}"
    )
    assert len(set(out)) == n


def test_missing_timestamp_names_the_rows() -> None:
    b = make_batch(
        topic="t", value=[1, 2, 3], timestamp=[5, None, None], offset=[10, 11, 12], partition=[0, 0, 1]
    )
    with pytest.raises(DataError) as e:
        configured(TimestampRouter, {}).apply(b)
    assert str(e.value) == "Timestamp missing on record: topic=t, partition=0, offset=11"
    assert e.value.rows == (1, 2)


def test_rowwise_sliced_empty_and_the_rest_untouched() -> None:
    t = configured(TimestampRouter, {})
    b = make_batch(
        topic=pa.array(["a", "b", "a"], pa.string()),
        value=[1, 2, 3],
        timestamp=[0, 1483425001864, 86_400_000],
        partition=[3, 4, 5],
    )
    out = t.apply(b)
    for name in ("partition", "offset", "timestamp", "key", "value", "headers"):
        assert out.column(name).equals(b.column(name))
    assert_rowwise(t, b)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0


def test_config() -> None:
    keys = TimestampRouter.config_def().keys()
    assert keys["topic.format"].default == "${topic}-${timestamp}"
    assert keys["timestamp.format"].default == "yyyyMMdd"
    with pytest.raises(ConfigError) as e:
        TimestampRouter().configure({"timestamp.format": "yyyy-bb"})
    assert (
        str(e.value)
        == "Invalid value yyyy-bb for configuration timestamp.format: Illegal pattern character 'b'"
    )
    assert TimestampRouter.aliases == ("org.apache.kafka.connect.transforms.TimestampRouter",)
