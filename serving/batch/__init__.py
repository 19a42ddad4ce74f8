"""Portfolio-scale decisions: every row of a file decided as ``POST /decide`` decides it.

:mod:`serving.batch.rows` reads the input, :mod:`serving.batch.chunks` decides and
records one chunk of rows (the one place a batch decides, shared by both engines),
:mod:`serving.batch.run` plans a run (its id, the served version, resuming) and runs
it locally; :mod:`serving.batch.spark` runs the same chunks on PySpark.
"""

from serving.batch.chunks import ChunkResult
from serving.batch.errors import BatchError
from serving.batch.run import BatchPlan, BatchSummary, plan_batch, run_local

__all__ = ["BatchError", "BatchPlan", "BatchSummary", "ChunkResult", "plan_batch", "run_local"]
