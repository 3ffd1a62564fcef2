"""Batch explanation jobs on Dask: a whole file of rows, explained on a local cluster or
an existing one, with the same values as one-row explain requests.

Modules, one noun each: ``spec`` (what a job asks, and the plan it resolves to),
``inputs`` (the input file), ``partitions``, ``files`` (where a job's files live),
``worker`` (what runs on a Dask worker), ``results`` (the result table and its
formats), ``runner`` (the Dask cluster), ``store`` (job records in the audit store),
``manager`` (submit, follow, cancel, results, replay: what the API and the CLI call).
Nothing here imports ``dask`` or ``pyarrow`` until a job needs them.
"""

from service.jobs.manager import JobManager, JobStatus, RowReplay
from service.jobs.runner import DaskRunner
from service.jobs.spec import FORMATS, JobSpec, Plan, ResultFormat
from service.jobs.store import JobFilter, JobPage

__all__ = [
    "FORMATS",
    "DaskRunner",
    "JobFilter",
    "JobManager",
    "JobPage",
    "JobSpec",
    "JobStatus",
    "Plan",
    "ResultFormat",
    "RowReplay",
]
