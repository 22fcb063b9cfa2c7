"""Scheduled campaigns: APScheduler with its SQLAlchemy job store in the knowledge store's own database, so a
schedule survives a restart. ``atomloop campaign schedule FILE --every 6h`` stores the job;
``atomloop campaign scheduler`` runs every stored job when it is due, until stopped."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge.errors import StoreInputError

if TYPE_CHECKING:
    from agent.campaign_spec import CampaignSpec

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MIN_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(days=366)  # a schedule's next run must stay a date (and a yearly one is the longest asked)


def parse_interval(text: str) -> timedelta:
    """'6h', '30m', '1d', '45s', '2w' (or combinations like '1h30m'), from 1 second to 366 days."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw])", text.strip().lower())
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text.strip().lower()):
        raise StoreInputError(f"cannot read the interval {text!r}: use e.g. 6h, 30m, 1d, 1h30m")
    seconds = sum(float(number) * timedelta(**{_UNITS[unit]: 1}).total_seconds() for number, unit in parts)
    if seconds <= 0:
        raise StoreInputError("the interval must be positive")
    if not MIN_INTERVAL.total_seconds() <= seconds <= MAX_INTERVAL.total_seconds():
        raise StoreInputError(f"the interval {text!r} is outside 1s to 366d")
    return timedelta(seconds=seconds)


def checked_run_for(seconds: float | None) -> float | None:
    """How long the scheduler serves: None (until stopped) or a positive, finite number of seconds."""
    import math

    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise StoreInputError(f"--run-for must be a positive number of seconds, not {seconds}")
    return seconds


def scheduled_spec_yaml(spec: CampaignSpec) -> str:
    """The spec as the stored job keeps it: YAML, its pool file as an absolute path (the scheduler runs from
    another working directory, maybe days later)."""
    import yaml

    from agent.campaign_spec import PoolSpec

    if spec.pool.file:
        spec = spec.model_copy(update={"pool": PoolSpec(file=str(Path(spec.pool.file).expanduser().resolve()))})
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


def run_scheduled_campaign(spec_yaml: str, home: str, database_url: str | None) -> str:
    """The job APScheduler runs (by reference, so it is importable in a new process): one campaign from the spec."""
    import os

    from agent.app import build_app
    from agent.campaign import CampaignRunner
    from agent.campaign_spec import CampaignSpec
    from agent.settings import AtomLoopSettings

    os.environ["ATOMLOOP_HOME"] = home
    if database_url:
        os.environ["ATOMLOOP_DATABASE_URL"] = database_url
    app = build_app(AtomLoopSettings())
    spec = CampaignSpec.from_yaml_text(spec_yaml, "(the scheduled job's spec)")
    # create checks the pool and the model kind before it writes; run holds the campaign's lease and marks a
    # campaign that fails "failed" (APScheduler logs the error)
    runner = CampaignRunner.create(app, spec, on_progress=lambda message: log.info("campaign: %s", message))
    status = runner.run()
    log.info("scheduled campaign %s finished: %d molecules measured", status.id, status.experiments)
    return status.id


def _admin_scheduler_class() -> type:
    """A background scheduler started (paused) only to reach the job store, to add, list or remove jobs: it never
    runs one. (APScheduler's thread processes due jobs once more when a paused scheduler shuts down, and fails to
    submit them, logging a traceback for every job that is overdue.)"""
    from apscheduler.schedulers.background import BackgroundScheduler

    class AdminScheduler(BackgroundScheduler):
        def _process_jobs(self) -> None:
            return None

    return AdminScheduler


class CampaignScheduler:
    def __init__(self, database_url: str, home: Path, explicit_database_url: str | None) -> None:
        self._url = database_url
        self._home = home
        self._explicit_url = explicit_database_url

    def _jobstore(self) -> Any:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        return SQLAlchemyJobStore(url=self._url, tablename=JOBS_TABLE)

    def _scheduler(self, blocking: bool, *, admin: bool = False) -> Any:
        """A scheduler on the job store: blocking (serve in the foreground), in the background (serve for a
        while), or ``admin`` (to add or remove jobs; it never runs one)."""
        scheduler_class: type
        if admin:
            scheduler_class = _admin_scheduler_class()
        elif blocking:
            from apscheduler.schedulers.blocking import BlockingScheduler

            scheduler_class = BlockingScheduler
        else:
            from apscheduler.schedulers.background import BackgroundScheduler

            scheduler_class = BackgroundScheduler
        return scheduler_class(jobstores={"default": self._jobstore()}, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})

    def add(self, spec: CampaignSpec, every: timedelta) -> dict[str, Any]:
        """Store (or replace) the job for this campaign's name; returns its id and next run time.

        ``spec`` is checked by the caller (``CampaignRunner.check``: refuse a bad campaign now, not at 3 a.m.).
        """
        from apscheduler.triggers.interval import IntervalTrigger

        spec_yaml = scheduled_spec_yaml(spec)
        name = spec.name
        job_id = f"campaign:{name}"
        scheduler = self._scheduler(blocking=False, admin=True)
        scheduler.start(paused=True)
        try:
            job = scheduler.add_job(
                "agent.scheduling:run_scheduled_campaign",
                IntervalTrigger(seconds=every.total_seconds()),
                args=[spec_yaml, str(self._home), self._explicit_url],
                id=job_id,
                name=name,
                replace_existing=True,
            )
            next_run = job.next_run_time
        finally:
            scheduler.shutdown(wait=False)
        return {"job_id": job_id, "every_s": every.total_seconds(), "next_run": next_run}

    def jobs(self) -> list[dict[str, Any]]:
        scheduler = _admin_scheduler_class()(jobstores={"default": self._jobstore()})
        scheduler.start(paused=True)
        try:
            return [{"job_id": j.id, "name": j.name, "every_s": j.trigger.interval.total_seconds(), "next_run": j.next_run_time} for j in scheduler.get_jobs()]
        finally:
            scheduler.shutdown(wait=False)

    def remove(self, job_id: str) -> None:
        from apscheduler.jobstores.base import JobLookupError

        from knowledge.errors import NotFoundError

        scheduler = self._scheduler(blocking=False, admin=True)
        scheduler.start(paused=True)
        try:
            scheduler.remove_job(job_id)
        except JobLookupError:
            raise NotFoundError(f"no scheduled job {job_id!r}") from None
        finally:
            scheduler.shutdown(wait=False)

    def run(self, run_for_s: float | None = None) -> None:
        """Run due jobs until interrupted (or for ``run_for_s`` seconds, a positive finite number)."""
        import threading

        checked_run_for(run_for_s)

        scheduler = self._scheduler(blocking=run_for_s is None)
        if run_for_s is None:
            scheduler.start()
            return
        scheduler.start()
        threading.Event().wait(run_for_s)
        scheduler.shutdown(wait=True)
