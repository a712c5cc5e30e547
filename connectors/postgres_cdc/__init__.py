"""PostgreSQL change data capture: logical replication (pgoutput) into Debezium-shaped events."""
