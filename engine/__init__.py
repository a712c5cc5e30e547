"""arrowsmith data plane: the SPI, the record model, converters, transforms and task runtime."""

__version__ = "0.1.0"
