"""Benchmarks of arrowsmith pipelines, run by hand (``python -m perf.<scenario>``).

* :mod:`perf.file_pipeline`: FileStreamSource → Kafka and Kafka → FileStreamSink through a
  real ``connect-standalone`` process, next to the raw confluent-kafka ceiling on the same
  broker. Results go to ``perf/results/`` (one JSON per run, one line per run in
  ``history.jsonl``); the method and the latest numbers are in ``docs/performance.md``.
"""
