"""arrowsmith control plane: the herder, stores, supervisor of worker processes, REST API, CLI."""
