"""arrowsmith data plane: the SPI, the record model, converters, transforms and task runtime."""

import os

__version__ = "0.1.0"

# Worker and stage processes are forked from the control plane while it has no other thread
# (engine.runtime.fork_server). OpenBLAS, loaded with numpy, would start a thread per core
# at import, for linear algebra arrowsmith never does, and keep ~5 MB of buffers for them.
# Set before numpy is first imported; a value the user set stays.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
