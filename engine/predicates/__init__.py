"""Kafka Connect's built-in predicates, vectorized: each maps a batch to a boolean mask.

``HasHeaderKey``, ``RecordIsTombstone`` and ``TopicNameMatches``; they answer to their
Apache names (``org.apache.kafka.connect.transforms.predicates.HasHeaderKey`` …) and
register through the ``arrowsmith.predicates`` entry points. The mask never has nulls.
"""
