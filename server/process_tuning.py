"""Process-wide tuning that only the server process itself should do (`frugal serve`), never
the library: a test or a program embedding `create_app` keeps its process as it was.

- glibc's malloc keeps numpy's freed scratch memory mapped (`agent.embedders.malloc_tuning`);
- OpenBLAS runs single-threaded: the embedder runs one forward pass per core instead
  (`agent.embedders.blas_threads`);
- once start-up has built what lives as long as the process (tokenizer tables, weights, the
  knowledge base), those objects are frozen out of the cyclic GC, whose full passes otherwise
  walk them for ~35 ms at a time, a stall every request sees.
"""

from __future__ import annotations

import gc

from agent.embedders.blas_threads import limit_blas_threads
from agent.embedders.malloc_tuning import keep_freed_memory_mapped

BLAS_THREADS = 1


def tune_process() -> None:
    """Before the app is built: memory and BLAS settings (idempotent)."""
    keep_freed_memory_mapped()
    limit_blas_threads(BLAS_THREADS)


def freeze_startup_objects() -> None:
    """After start-up: keep every object built so far out of the cyclic GC."""
    gc.freeze()
