"""Plugin discovery, which runs in the control plane and in every worker process, imports no
database driver: connectors import theirs where a task runs (docs/performance.md, peak RSS)."""

from __future__ import annotations

import json
import subprocess
import sys

# Modules that cost memory in every process that imports them, and that only a task of one
# connector needs.
HEAVY = (
    "psycopg2",
    "duckdb",
    "adbc_driver_manager",
    "adbc_driver_postgresql",
    "adbc_driver_sqlite",
    "cryptography",
    "dateutil",
    "numpy.random",
    "pyarrow.acero",
    "pyarrow.dataset",
)

DISCOVER = f"""
import json, sys
from engine.plugins import PluginRegistry, PluginType
registry = PluginRegistry.discover()
connectors = {{
    d.class_name: sorted(registry.prototype(d.cls).config_def().names())
    for d in registry.plugins([PluginType.SOURCE, PluginType.SINK])
}}
print(json.dumps({{"connectors": connectors, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def run(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_discovery_imports_no_driver_and_keeps_every_connector_with_its_config() -> None:
    found = run(DISCOVER)
    assert found["heavy"] == []
    connectors = found["connectors"]
    assert isinstance(connectors, dict)
    assert {
        "connectors.postgres_cdc.connector.PostgresConnector",
        "connectors.datagen.source.DatagenConnector",
        "connectors.jdbc.source.JdbcSourceConnector",
        "connectors.jdbc.sink.JdbcSinkConnector",
        "connectors.duckdb.sink.DuckDBSinkConnector",
    } <= set(connectors)
    assert {"database.hostname", "slot.name", "plugin.name"} <= set(
        connectors["connectors.postgres_cdc.connector.PostgresConnector"]
    )
    assert {"kafka.topic", "quickstart"} <= set(connectors["connectors.datagen.source.DatagenConnector"])


def test_the_cdc_task_loads_where_it_runs_and_at_its_former_path() -> None:
    found = run(
        """
import json, sys
from connectors.postgres_cdc.connector import PostgresConnector
before = "psycopg2" in sys.modules
task = PostgresConnector().task_class()
from engine.runtime.worker_task import load_task_class
old = load_task_class("connectors.postgres_cdc.connector.PostgresCdcTask")
print(json.dumps({"before": before, "task": f"{task.__module__}.{task.__name__}", "same": old is task,
                  "after": "psycopg2" in sys.modules}))
"""
    )
    assert found == {
        "before": False,
        "task": "connectors.postgres_cdc.task.PostgresCdcTask",
        "same": True,
        "after": True,
    }
