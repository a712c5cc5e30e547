"""InsertHeader: add a header with a literal value to every record (Kafka's ``InsertHeader``).

The literal is read with Connect's ``Values.parseString`` (``42`` is an INT8, ``true`` a
BOOLEAN, ``[1,2]`` an ARRAY, ``2020-01-01`` a Date, other text a STRING; see
:mod:`engine.spi.values`). Header values travel through the pipeline as bytes, so the value
is written as ``SimpleHeaderConverter`` — the default header converter — writes it
(``Values.convertToString``): ``1.50`` becomes ``1.5``, ``[1, 2]`` becomes ``[1,2]``. The header
is added after the existing ones; a header of the same name is not replaced.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from engine.spi import record
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, NonNullValidator, Type
from engine.spi.transform import Transformation
from engine.spi.values import parse_string, parsed_text
from engine.transforms._common import append_headers, replace_column

HEADER = "header"
VALUE_LITERAL = "value.literal"
_HEADER_DOC = "The name of the header."


def literal_bytes(literal: str) -> bytes | None:
    """The header bytes of a literal: parsed as Kafka does, written as SimpleHeaderConverter does."""
    text = parsed_text(parse_string(literal))
    return None if text is None else text.encode()


class InsertHeader(Transformation):
    """``org.apache.kafka.connect.transforms.InsertHeader``."""

    aliases = ("org.apache.kafka.connect.transforms.InsertHeader",)

    def __init__(self) -> None:
        self._header = ""
        self._value: bytes | None = None

    @classmethod
    def config_def(cls) -> ConfigDef:
        return (
            ConfigDef()
            .define(
                HEADER,
                Type.STRING,
                NO_DEFAULT,
                NonNullValidator(),
                Importance.HIGH,
                "The name of the header.",
            )
            .define(
                VALUE_LITERAL,
                Type.STRING,
                NO_DEFAULT,
                NonNullValidator(),
                Importance.HIGH,
                "The literal value that is to be set as the header value on all records.",
            )
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._header = str(values[HEADER])
        self._value = literal_bytes(str(values[VALUE_LITERAL]))

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        if n == 0:
            return batch
        headers = batch.column(record.HEADERS)
        added = pa.repeat(pa.scalar(self._value, pa.binary()), n)
        out = append_headers(headers, [(self._header, added)])
        return replace_column(
            batch, record.HEADERS, batch.schema.field(record.HEADERS).with_type(out.type), out
        )
