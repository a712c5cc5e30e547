"""FileStreamSource and FileStreamSink: Kafka Connect's file connectors, reading and writing by batch."""
