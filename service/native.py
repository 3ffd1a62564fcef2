"""Native thread pools: how many threads BLAS may start per process.

The explainers' least-squares and matrix products call BLAS (OpenBLAS, through numpy),
which by default starts a thread per core for every call and keeps them spinning after.
The service already runs explanations side by side (the compute pool, one thread each),
so BLAS threads only oversubscribe the cores: under 8 concurrent ``kernel_shap``
requests a 20,000-row solve took 2.4-6.5 ms instead of 0.26 ms on one thread, and the
spinning took the cores from ONNX Runtime. ``CLARION_BLAS_THREADS`` (default 1, 0: the
library's own choice) sets the limit once per process, as ``CLARION_ORT_INTRA_OP_THREADS``
does for ONNX Runtime; results do not depend on it (checked bit for bit at 1, 2 and the
default).
"""

from __future__ import annotations

__all__ = ["limit_blas_threads"]


def limit_blas_threads(threads: int) -> None:
    """At most ``threads`` BLAS threads in this process from now on (0: leave as is)."""
    if threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
