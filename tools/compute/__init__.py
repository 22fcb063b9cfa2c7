"""Compute jobs: long computations run as content-keyed jobs on a local process pool or a Dask cluster.

``jobs`` holds what callers use (``JobRequest``, ``JobOutcome``, ``ComputeExecutor``, ``build_executor``);
``book`` the bookkeeping every executor shares; ``local``, ``dask`` and ``inline`` the executors. Nothing here
imports dask until a Dask executor runs.
"""
