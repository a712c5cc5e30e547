"""The Kafka Connect REST API (starlette, served by uvicorn on uvloop)."""
