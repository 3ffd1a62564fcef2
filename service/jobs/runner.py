"""The Dask side of jobs: the cluster, and submitting a job's partitions to it.

With ``CLARION_DASK_SCHEDULER`` unset, the first job starts a local cluster of worker
processes (one thread each, one per core unless ``CLARION_DASK_WORKERS`` says
otherwise); set to ``tcp://host:8786``, jobs go to that cluster, whose workers need only
``pip install clarion``. Each job submits its bundle once, as a task holding the bytes
(workers fetch it from each other, and the scheduler can recompute it if the worker
holding it dies), and one task per partition that depends on it. A partition whose
worker dies is run again elsewhere (Dask reschedules it; ``CLARION_JOB_RETRIES`` more
tries for a partition that raised). ``dask`` is imported on first use only.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any

import structlog

from service import cores
from service.errors import Unavailable
from service.jobs.worker import (
    BundleParts,
    PartitionTask,
    explain_partition,
    hold_bundle,
    worker_settings,
)
from service.settings import Settings

__all__ = ["DaskRunner"]

log = structlog.get_logger(__name__)

# Per worker process: one thread, and the libraries' own thread pools at one thread too,
# so N workers use N cores (numba's parallel kernels would otherwise take every core).
_WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class DaskRunner:
    """A Dask client, connected on first use; thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None  # distributed.Client (untyped calls)
        self._cluster: Any = None
        self._lock = threading.Lock()
        self._fields = worker_settings(settings)

    @property
    def started(self) -> bool:
        return self._client is not None

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        import distributed

        # distributed's constructors are untyped: treat them as Any.
        Client: Any = distributed.Client
        LocalCluster: Any = distributed.LocalCluster
        address = self.settings.dask_scheduler
        if address is not None:
            try:
                client = Client(address, timeout="10s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise Unavailable(
                    f"the Dask scheduler at {address} cannot be reached (CLARION_DASK_SCHEDULER)",
                    details={"problem": type(exc).__name__},
                ) from exc
            log.info("jobs.cluster_connected", scheduler=address, workers=self._count(client))
            return client
        n_workers = self.settings.dask_workers or os.cpu_count() or 1
        with cores.unpinned():  # its processes and threads start with this thread's CPUs
            self._cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # a free port: never clash over :8787
                env=dict(_WORKER_ENV),
            )
        client = Client(self._cluster, set_as_default=False)
        log.info(
            "jobs.local_cluster_started",
            workers=n_workers,
            scheduler=self._cluster.scheduler_address,
            dashboard=self.dashboard_link,
        )
        return client

    @staticmethod
    def _count(client: Any) -> int:
        info = client.scheduler_info()
        return len(info.get("workers", {}))

    @property
    def dashboard_link(self) -> str | None:
        """The local cluster's Dask dashboard, when it has one (bokeh installed)."""
        if self._cluster is None or importlib.util.find_spec("bokeh") is None:
            return None
        link = getattr(self._cluster, "dashboard_link", None)
        return str(link) if link else None

    def submit(self, bundle: BundleParts, tasks: Sequence[PartitionTask]) -> tuple[Any, list[Any]]:
        """The bundle's task and one task per partition, in partition order."""
        client = self.client()
        held = client.submit(hold_bundle, bundle, key=f"clarion-bundle-{bundle.sha256}")
        futures = [
            client.submit(
                explain_partition,
                held,
                self._fields,
                task,
                # the run in the key: a run taking a job over never shares its tasks
                key=f"clarion-job-{task.job_id}-{task.run_id[:8]}-{task.partition.index:05d}",
                retries=self.settings.job_retries,
                pure=False,
            )
            for task in tasks
        ]
        return held, futures

    def cancel(self, futures: Sequence[Any]) -> None:
        if self._client is not None and futures:
            self._client.cancel(list(futures))

    def close(self) -> None:
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
            log.info("jobs.local_cluster_stopped")
