"""JDBC-compatible source and sink connectors for PostgreSQL and SQLite, on ADBC.

They answer to the Confluent JDBC connector's class names and keys
(``io.confluent.connect.jdbc.JdbcSourceConnector`` / ``JdbcSinkConnector``); underneath,
rows move as Arrow: the source reads with ADBC's ``fetch_record_batch``, the sink writes
with ADBC bulk ingest (PostgreSQL ``COPY`` in binary, SQLite prepared inserts), and upserts
go through a temporary staging table and one ``INSERT … ON CONFLICT`` per batch.

Modules: :mod:`.url` (connection.url forms), :mod:`.dialect` (quoting, SQL, introspection),
:mod:`.types` (type mapping), :mod:`.connection` (connect, retries, error classes),
:mod:`.config` (keys), :mod:`.querier` and :mod:`.source` (source),
:mod:`.records`, :mod:`.writer` and :mod:`.sink` (sink). See docs/jdbc.md.
"""
