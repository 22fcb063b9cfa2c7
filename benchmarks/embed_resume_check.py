"""A killed ``atomloop structures embed`` on Dask, then the same command again: what the re-run reuses.

The command line as a user runs it, in a fresh AtomLoop home (after ``atomloop db init``): ``ATOMLOOP_COMPUTE__EXECUTOR=dask atomloop structures
embed FILE --out OUT.sdf --json`` on the first ``--n`` molecules of ESOL. Once ``atomloop jobs list --json`` shows
``--kill-after`` finished jobs, the client process is killed with SIGKILL (its LocalCluster goes with it); the same
command is then run to the end, and again once more. Prints one Markdown table: how many jobs each run found
finished, how many it computed, and its wall time.

    .venv/bin/python benchmarks/embed_resume_check.py --n 500 --kill-after 150
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ATOMLOOP = str(Path(sys.executable).parent / "atomloop")


def _molecules(n: int, folder: Path) -> Path:
    from knowledge.bundled import bundled_dir

    with (bundled_dir() / "delaney.csv").open() as handle:
        smiles = [row["smiles"] for row in csv.DictReader(handle)][:n]
    path = folder / f"esol-{len(smiles)}.smi"
    path.write_text("\n".join(smiles) + "\n")
    return path


def _jobs(env: dict[str, str]) -> list[dict[str, object]]:
    done = subprocess.run([ATOMLOOP, "jobs", "list", "--limit", "100000", "--json"], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return []
    payload = json.loads(done.stdout)
    return list(payload["jobs"] if isinstance(payload, dict) else payload)


def _succeeded(env: dict[str, str]) -> int:
    return sum(1 for job in _jobs(env) if job.get("status") == "succeeded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="molecules (the first N of ESOL)")
    parser.add_argument("--kill-after", type=int, default=150, help="kill the first client once this many jobs finished")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="atomloop-embed-resume-") as scratch:
        folder = Path(scratch)
        env = {
            **os.environ, "ATOMLOOP_HOME": str(folder / "home"), "ATOMLOOP_COMPUTE__EXECUTOR": "dask",
            "ATOMLOOP_COMPUTE__WORKERS": str(args.workers),
        }
        env.pop("ATOMLOOP_COMPUTE__ADDRESS", None)
        file = _molecules(args.n, folder)
        subprocess.run([ATOMLOOP, "db", "init"], env=env, check=True, capture_output=True, timeout=300)
        command = [ATOMLOOP, "structures", "embed", str(file), "--out", str(folder / "out.sdf"), "--json"]
        rows = []

        started = time.perf_counter()
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        finished_before_kill = 0
        while first.poll() is None:
            finished_before_kill = _succeeded(env)
            if finished_before_kill >= args.kill_after:
                break
            time.sleep(0.5)
        if first.poll() is not None:
            sys.exit(f"the first run ended (exit {first.returncode}) before {args.kill_after} jobs finished: lower --kill-after")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.perf_counter() - started
        try:  # the LocalCluster's worker processes are in the client's session: they go too, as they would with it
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        finished_at_kill = _succeeded(env)
        rows.append(("first, killed with SIGKILL", 0, finished_at_kill, killed_at))

        for name in ("re-run after the kill", "the same command again"):
            before = _succeeded(env)
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(f"{name} failed (exit {done.returncode}): {done.stderr[-2000:]}")
            report = json.loads(done.stdout)
            reused = int(report["reused_jobs"])
            rows.append((name, reused, int(report["jobs"]) - reused, wall))
            if reused < before:
                sys.exit(f"{name}: {before} jobs had finished but only {reused} were reused")
        jobs = _jobs(env)

    print(f"{args.n} molecules of ESOL, one conformer each, Dask LocalCluster with {args.workers} workers; "
          f"{len(jobs)} job records at the end, {sum(1 for j in jobs if j.get('status') == 'succeeded')} succeeded\n")
    print("| run | jobs found finished (reused) | jobs computed | wall s |")
    print("|---|---:|---:|---:|")
    for name, reused, computed, wall in rows:
        print(f"| {name} | {reused} | {computed} | {wall:.1f} |")


if __name__ == "__main__":
    main()
