"""Scheduled campaigns: APScheduler with its SQLAlchemy job store in the knowledge store's own database, so a
schedule survives a restart. ``atomloop campaign schedule FILE --every 6h`` stores the job;
``atomloop campaign scheduler`` runs every stored job when it is due, until stopped."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from knowledge.errors import StoreInputError

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_interval(text: str) -> timedelta:
    """'6h', '30m', '1d', '45s', '2w' (or combinations like '1h30m')."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw])", text.strip().lower())
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text.strip().lower()):
        raise StoreInputError(f"cannot read the interval {text!r}: use e.g. 6h, 30m, 1d, 1h30m")
    interval = timedelta()
    for number, unit in parts:
        interval += timedelta(**{_UNITS[unit]: float(number)})
    if interval.total_seconds() <= 0:
        raise StoreInputError("the interval must be positive")
    return interval


def run_scheduled_campaign(spec_yaml: str, home: str, database_url: str | None) -> str:
    """The job APScheduler runs (by reference, so it is importable in a new process): one campaign from the spec."""
    import os

    import yaml

    from agent.app import build_app
    from agent.campaign import CampaignRunner, CampaignSpec
    from agent.settings import AtomLoopSettings

    os.environ["ATOMLOOP_HOME"] = home
    if database_url:
        os.environ["ATOMLOOP_DATABASE_URL"] = database_url
    app = build_app(AtomLoopSettings())
    spec = CampaignSpec.model_validate(yaml.safe_load(spec_yaml))
    runner = CampaignRunner.create(app, spec, on_progress=lambda message: log.info("campaign: %s", message))
    status = runner.run()
    log.info("scheduled campaign %s finished: %d molecules measured", status.id, status.experiments)
    return status.id


class CampaignScheduler:
    def __init__(self, database_url: str, home: Path, explicit_database_url: str | None) -> None:
        self._url = database_url
        self._home = home
        self._explicit_url = explicit_database_url

    def _jobstore(self) -> Any:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        return SQLAlchemyJobStore(url=self._url, tablename=JOBS_TABLE)

    def _scheduler(self, blocking: bool) -> Any:
        if blocking:
            from apscheduler.schedulers.blocking import BlockingScheduler as Kind
        else:
            from apscheduler.schedulers.background import BackgroundScheduler as Kind
        return Kind(jobstores={"default": self._jobstore()}, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})

    def add(self, spec_path: Path, every: timedelta, name: str) -> dict[str, Any]:
        """Store (or replace) the job for this campaign name; returns its id and next run time."""
        from apscheduler.triggers.interval import IntervalTrigger

        spec_yaml = spec_path.read_text(encoding="utf-8")
        from agent.campaign import CampaignSpec

        CampaignSpec.from_yaml(spec_path)  # refuse a bad file now, not at 3 a.m.
        job_id = f"campaign:{name}"
        scheduler = self._scheduler(blocking=False)
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
        store = self._jobstore()
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(jobstores={"default": store})
        scheduler.start(paused=True)
        try:
            return [{"job_id": j.id, "name": j.name, "every_s": j.trigger.interval.total_seconds(), "next_run": j.next_run_time} for j in scheduler.get_jobs()]
        finally:
            scheduler.shutdown(wait=False)

    def remove(self, job_id: str) -> None:
        from apscheduler.jobstores.base import JobLookupError

        from knowledge.errors import NotFoundError

        scheduler = self._scheduler(blocking=False)
        scheduler.start(paused=True)
        try:
            scheduler.remove_job(job_id)
        except JobLookupError:
            raise NotFoundError(f"no scheduled job {job_id!r}") from None
        finally:
            scheduler.shutdown(wait=False)

    def run(self, run_for_s: float | None = None) -> None:
        """Run due jobs until interrupted (or for ``run_for_s`` seconds)."""
        import threading

        scheduler = self._scheduler(blocking=run_for_s is None)
        if run_for_s is None:
            scheduler.start()
            return
        scheduler.start()
        threading.Event().wait(run_for_s)
        scheduler.shutdown(wait=True)
