"""Datagen source: Confluent's kafka-connect-datagen, generating whole batches with numpy.

Keys as Confluent's connector: ``kafka.topic``, ``quickstart``, ``schema.string``,
``schema.filename``, ``schema.keyfield``, ``iterations`` (per task; < 1 = unbounded),
``max.interval`` (a random pause of up to this many ms before each record; 0 = as fast as
possible), ``random.seed``. One more: ``batch.max.rows`` (most records per poll).

The source partition is ``{"task.id": t}`` and the offset ``{"task.generation": g,
"current.iteration": n, "random.seed": s}`` (Confluent's names): a restarted task continues
at iteration ``n`` of the same random stream, so what it sends next is exactly what it
would have sent had it not stopped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from connectors.datagen.generator import RecordGenerator, SchemaError
from connectors.datagen.quickstarts import QUICKSTARTS
from engine.spi.config import ConfigDef, Importance, NonEmptyString, Range, Type, ValidString
from engine.spi.connector import SourceConnector, SourceTask, Task
from engine.spi.errors import ConfigError
from engine.spi.record import SourceBatch, make_batch

log = logging.getLogger(__name__)

KAFKA_TOPIC = "kafka.topic"
MAX_INTERVAL = "max.interval"
ITERATIONS = "iterations"
SCHEMA_STRING = "schema.string"
SCHEMA_FILENAME = "schema.filename"
SCHEMA_KEYFIELD = "schema.keyfield"
QUICKSTART = "quickstart"
RANDOM_SEED = "random.seed"
BATCH_MAX_ROWS = "batch.max.rows"

TASK_ID = "task.id"
TASK_COUNT = "task.count"
TASK_GENERATION = "task.generation"
CURRENT_ITERATION = "current.iteration"

IDLE_WAIT_S = 1.0
MAX_WAIT_S = 0.1
"""Longest single wait inside ``poll()`` when records trickle (``max.interval`` > 0)."""


def _config_def() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            KAFKA_TOPIC,
            Type.STRING,
            validator=NonEmptyString(),
            importance=Importance.HIGH,
            documentation="Topic to write to",
        )
        .define(
            MAX_INTERVAL,
            Type.LONG,
            500,
            Range.at_least(0),
            Importance.HIGH,
            "Max interval between messages (ms): a random pause of up to this long before each "
            "record; 0 sends as fast as the pipeline takes them",
        )
        .define(
            ITERATIONS,
            Type.INT,
            -1,
            importance=Importance.HIGH,
            documentation="Number of messages to send from each task, or less than 1 for unlimited",
        )
        .define(
            SCHEMA_STRING,
            Type.STRING,
            "",
            importance=Importance.HIGH,
            documentation="The literal JSON-encoded Avro schema to use",
        )
        .define(
            SCHEMA_FILENAME,
            Type.STRING,
            "",
            importance=Importance.HIGH,
            documentation="Filename of schema to use",
        )
        .define(
            SCHEMA_KEYFIELD,
            Type.STRING,
            "",
            importance=Importance.HIGH,
            documentation="Name of field to use as the message key (default: the quickstart's key field)",
        )
        .define(
            QUICKSTART,
            Type.STRING,
            "",
            ValidString.in_("", *QUICKSTARTS),
            Importance.HIGH,
            "Name of quickstart to use",
        )
        .define(
            RANDOM_SEED,
            Type.LONG,
            None,
            importance=Importance.LOW,
            documentation="Numeric seed for generating random data. Two connectors started with the "
            "same seed will deterministically produce the same data. Each task will generate "
            "different data than the other tasks in the same connector.",
        )
        .define(
            BATCH_MAX_ROWS,
            Type.INT,
            10000,
            Range.at_least(1),
            Importance.LOW,
            "The most records one poll hands over (arrowsmith's own key)",
        )
    )


def resolve_schema(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The Avro schema and key field the config names (quickstart, then schema.string, then file)."""
    key = cfg[SCHEMA_KEYFIELD] or None
    if cfg[QUICKSTART]:
        avro, default_key = QUICKSTARTS[cfg[QUICKSTART]]
        return avro, key or default_key
    if cfg[SCHEMA_STRING]:
        text, where = cfg[SCHEMA_STRING], SCHEMA_STRING
    elif cfg[SCHEMA_FILENAME]:
        where = SCHEMA_FILENAME
        try:
            text = Path(cfg[SCHEMA_FILENAME]).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"Unable to read schema file {cfg[SCHEMA_FILENAME]}: {e}", key=where) from e
    else:
        raise ConfigError(
            f"Must set exactly one of {QUICKSTART}, {SCHEMA_STRING} or {SCHEMA_FILENAME}", key=QUICKSTART
        )
    try:
        avro = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"Unable to parse the provided schema: {e}", key=where) from e
    if not isinstance(avro, dict):
        raise ConfigError("The schema must be an Avro record", key=where)
    return avro, key


def _check(props: Mapping[str, str]) -> dict[str, Any]:
    cfg = _config_def().parse(props)
    sources = [k for k in (QUICKSTART, SCHEMA_STRING, SCHEMA_FILENAME) if cfg[k]]
    if len(sources) > 1:
        raise ConfigError(f"Only one of {', '.join(sources)} may be set", key=sources[1])
    avro, key = resolve_schema(cfg)
    try:
        RecordGenerator(avro, key, 0)
    except SchemaError as e:
        raise ConfigError(str(e), key=sources[0] if sources else QUICKSTART) from e
    return cfg


class DatagenConnector(SourceConnector):
    aliases = ("io.confluent.kafka.connect.datagen.DatagenConnector",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return _config_def()

    def start(self, props: Mapping[str, str]) -> None:
        _check(props)
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return DatagenTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{**self.props, TASK_ID: str(i), TASK_COUNT: str(max_tasks)} for i in range(max(1, max_tasks))]

    def stop(self) -> None:
        pass

    def alter_offsets(self, config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        return True  # the offsets are the whole state


class DatagenTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        cfg = _check(props)
        self.topic: str = cfg[KAFKA_TOPIC]
        self.max_interval_s: float = cfg[MAX_INTERVAL] / 1000
        self.iterations: int = cfg[ITERATIONS]
        self.batch_rows: int = cfg[BATCH_MAX_ROWS]
        task_id = int(props.get(TASK_ID, "0"))
        tasks = int(props.get(TASK_COUNT, "1"))
        self.partition = {TASK_ID: task_id}
        seed = cfg[RANDOM_SEED]
        if seed is None:
            import secrets  # here, not at import: plugin discovery imports this module everywhere

            seed = secrets.randbits(63)
        self.count = 0
        self.generation = 0
        stored = self.context.offset_storage_reader.offset(self.partition)
        if stored is not None:
            self.generation = int(stored.get(TASK_GENERATION, 0))
            self.count = int(stored.get(CURRENT_ITERATION, 0))
            seed = int(stored.get(RANDOM_SEED, seed))
            log.info("Continuing at iteration %d (generation %d)", self.count, self.generation)
        self.seed = seed
        avro, key = resolve_schema(cfg)
        self.gen = RecordGenerator(avro, key, seed, task_id, tasks)
        self.stopped = threading.Event()
        self.pauses = np.random.default_rng()  # timing only: the data do not depend on it
        self.next_due = time.monotonic() + self._pauses(1)[0]
        self.done_logged = False

    def _pauses(self, n: int) -> np.ndarray:
        return self.pauses.uniform(0.0, self.max_interval_s, size=n)

    def _due(self, room: int) -> int:
        """How many records are due now (``max.interval`` > 0); waits a little when none is."""
        now = time.monotonic()
        if self.next_due > now:
            self.stopped.wait(min(self.next_due - now, MAX_WAIT_S))
            now = time.monotonic()
            if self.next_due > now:
                return 0
        pauses = self._pauses(room)
        times = self.next_due + np.concatenate(([0.0], np.cumsum(pauses[:-1])))
        due = max(1, int(np.searchsorted(times, now, side="right")))
        self.next_due = float(times[due - 1] + pauses[due - 1])
        return due

    def poll(self) -> SourceBatch | None:
        if self.stopped.is_set():
            return None
        room = self.batch_rows
        if self.iterations > 0:
            room = min(room, self.iterations - self.count)
            if room <= 0:
                if not self.done_logged:
                    log.info("Generated the configured %d messages; idle from now on", self.iterations)
                    self.done_logged = True
                self.stopped.wait(IDLE_WAIT_S)
                return None
        n = room if self.max_interval_s == 0 else self._due(room)
        if n == 0:
            return None
        start, self.count = self.count, self.count + n
        keys, values = self.gen.records(start, self.count)
        batch = make_batch(
            topic=pa.repeat(pa.scalar(self.topic, pa.string()), n),
            key=keys,
            value=values,
            key_field=self.gen.key_field,
            value_field=self.gen.value_field,
        )
        offset = {TASK_GENERATION: self.generation + 1, CURRENT_ITERATION: self.count, RANDOM_SEED: self.seed}
        return SourceBatch(batch, [(self.partition, offset)])

    def stop(self) -> None:
        self.stopped.set()
