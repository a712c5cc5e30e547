"""The task runtime: what runs inside a worker process."""
