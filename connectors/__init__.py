"""Built-in connectors. Each imports only ``engine.spi``."""
