"""Writing runs into the knowledge store, and the run report.

Each step is recorded in one transaction, once: re-recording a (run, step) that is already stored does nothing,
so a run resumed after a crash between ``record`` and its checkpoint adds no duplicate rows.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from agent.plan import StepRecord
from knowledge.models import ModelVersion, Prediction, Run, Step, ToolCall
from knowledge.store import KnowledgeStore, StoreWriter
from tools.base import Tool
from tools.records import Records

log = logging.getLogger(__name__)


class RunRecorder:
    def __init__(self, store: KnowledgeStore, reports_dir: Path) -> None:
        self.store = store
        self.reports_dir = reports_dir

    def start_run(self, run_id: str, request: str, planner: str, mode: str) -> None:
        def work(writer: StoreWriter) -> None:
            if writer.session.get(Run, run_id) is None:
                writer.add(Run(id=run_id, request=request, planner=planner, mode=mode, status="running"))

        self.store.write(work)

    def set_status(self, run_id: str, status: str, *, answer: str | None = None) -> None:
        def work(writer: StoreWriter) -> None:
            run = writer.session.get(Run, run_id)
            if run is not None:
                run.status = status
                if answer is not None:
                    run.answer = answer
                    run.finished_at = datetime.now(UTC)
                writer.session.add(run)

        self.store.write(work)

    def record_step(self, run_id: str, current: dict[str, Any], tool: Tool[Any, Any] | None) -> None:
        def work(writer: StoreWriter) -> None:
            existing = writer.session.exec(select(Step).where(Step.run_id == run_id, Step.index == current["index"])).first()
            if existing is not None:
                return
            step = writer.add(Step(run_id=run_id, index=current["index"], tool=current["tool"], rationale=current.get("rationale", ""), status=current["status"]))
            assert step.id is not None  # writer.add flushes, so the row has its id
            call = writer.add(
                ToolCall(
                    run_id=run_id,
                    step_id=step.id,
                    tool=current["tool"],
                    args=current.get("args", {}),
                    result=current.get("output"),
                    status=current["status"],
                    error=current.get("error"),
                    duration_s=current.get("duration_s"),
                )
            )
            output = current.get("output")
            if current["status"] == "succeeded" and output and tool is not None:
                assert call.id is not None  # writer.add flushes, so the row has its id
                self._record_results(writer, run_id, tool.records_of(output), call.id)

        self.store.write(work)

    def _record_results(self, writer: StoreWriter, run_id: str, records: Records, call_id: int) -> None:
        """Write the rows a tool's output declares (``Tool.records``), whatever the tool."""
        for model in records.model_versions:
            if writer.session.get(ModelVersion, model.version) is None:
                writer.add(
                    ModelVersion(
                        id=model.version,
                        kind=model.kind,
                        property=model.property,
                        parent_id=model.parent_id,
                        dataset_hash=model.dataset_hash,
                        metrics=model.metrics,
                        artifact_path=model.artifact_path,
                        approved=model.approved,
                    )
                )
        if records.documents:
            from agent.literature import write_document

            for document in records.documents:
                write_document(writer, document)
        for raw in records.docking_reports:
            self._record_docking(writer, run_id, raw, call_id)
        if records.computed_measurements:
            self._record_computed(writer, run_id, records.computed_measurements, call_id)
        for smiles in records.molecules:
            writer.upsert_molecule(smiles)
        for p in records.predictions:
            molecule = writer.upsert_molecule(p.smiles)
            assert molecule.id is not None  # a stored molecule has its id
            writer.add(
                Prediction(
                    molecule_id=molecule.id,
                    model_version_id=p.model_version,
                    property=p.property,
                    value=p.value,
                    uncertainty=p.uncertainty,
                    unit=p.unit,
                    tool_call_id=call_id,
                )
            )
        if records.measurements:
            motivating = self._predictions_of_run(writer, run_id)
            preparer = self.store.preparer()
            prepared = []
            for m in records.measurements:
                structure = preparer.structure(m.smiles)
                new = m.to_new_measurement(
                    source=records.measurement_source,
                    provenance={"run_id": run_id},
                    prediction_id=motivating.get((structure.inchikey, m.property)),
                    tool_call_id=call_id,
                )
                prepared.append(preparer.prepare(new))
            writer.add_measurements(prepared)

    def _record_docking(self, writer: StoreWriter, run_id: str, raw: dict[str, Any], call_id: int) -> None:
        from agent.docking import distinct_target_name, write_docking
        from tools.docking.service import DockingReport

        report = distinct_target_name(self.store, DockingReport.model_validate(raw))
        preparer = self.store.preparer()
        rows = [
            preparer.prepare(row.model_copy(update={"tool_call_id": call_id, "provenance": {**row.provenance, "run_id": run_id}}))
            for row in report.measurements()
        ]
        write_docking(writer, report, rows)

    def _record_computed(self, writer: StoreWriter, run_id: str, raws: tuple[dict[str, Any], ...], call_id: int) -> None:
        from knowledge.store import NewMeasurement

        preparer = self.store.preparer()
        rows = []
        for raw in raws:
            row = NewMeasurement.model_validate(raw)
            rows.append(preparer.prepare(row.model_copy(update={"tool_call_id": call_id, "provenance": {**row.provenance, "run_id": run_id}})))
        writer.add_measurements(rows)

    @staticmethod
    def _predictions_of_run(writer: StoreWriter, run_id: str) -> dict[tuple[str, str], int]:
        """(InChIKey, property) -> the newest prediction made earlier in this run: what motivated a measurement."""
        from knowledge.models import Molecule

        rows = writer.session.exec(
            select(Prediction.id, Molecule.inchikey, Prediction.property)
            .join(Molecule, col(Prediction.molecule_id) == col(Molecule.id))
            .join(ToolCall, col(Prediction.tool_call_id) == col(ToolCall.id))
            .where(ToolCall.run_id == run_id)
            .order_by(col(Prediction.id))
        )
        return {(key, prop): prediction_id for prediction_id, key, prop in rows if prediction_id is not None}

    def finish_run(self, run_id: str, status: str, answer: str, history: list[StepRecord]) -> str:
        path = write_report(self.reports_dir, run_id, self._request(run_id), status, answer, history)

        def work(writer: StoreWriter) -> None:
            run = writer.session.get(Run, run_id)
            if run is not None:
                run.status, run.answer, run.report_path = status, answer, str(path)
                run.finished_at = datetime.now(UTC)
                writer.session.add(run)

        self.store.write(work)
        return str(path)

    def _request(self, run_id: str) -> str:
        with self.store.session() as session:
            run = session.get(Run, run_id)
            return run.request if run else ""


def write_report(reports_dir: Path, run_id: str, request: str, status: str, answer: str, history: list[StepRecord]) -> Path:
    """A Markdown report: the request, the answer, each step, result tables, and a plot where one helps."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# AtomLoop run `{run_id}`", "", f"**Request:** {request}", "", f"**Status:** {status}", "", "## Answer", "", answer, "", "## Steps", ""]
    lines += ["| # | tool | status | detail |", "|---|---|---|---|"]
    for step in history:
        detail = (step.error or "").replace("|", "/")[:160]
        lines.append(f"| {step.index} | {step.tool} | {step.status} | {detail} |")
    values: list[tuple[str, str, float, float | None, str]] = []
    for step in history:
        output = step.output or {}
        for m in output.get("measurements", []):
            values.append((m["smiles"], m["property"], m["value"], m.get("uncertainty"), "measured"))
        for p in output.get("predictions", []):
            values.append((p["smiles"], p["property"], p["value"], p.get("uncertainty"), "predicted"))
    if values:
        lines += ["", "## Results", "", "| molecule | property | value | ± σ | kind |", "|---|---|---|---|---|"]
        for smiles, prop, value, sigma, kind in values:
            lines.append(f"| `{smiles}` | {prop} | {value:.2f} | {'' if sigma is None else f'{sigma:.2f}'} | {kind} |")
        plot = _plot(reports_dir / f"{run_id}.png", values)
        if plot is not None:
            lines += ["", f"![results]({plot.name})"]
    path = reports_dir / f"{run_id}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _plot(path: Path, values: list[tuple[str, str, float, float | None, str]]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    properties = sorted({v[1] for v in values if v[1] != "purity"})
    if not properties:
        return None
    figure, axes = plt.subplots(1, len(properties), figsize=(5 * len(properties), 3.5), squeeze=False)
    for axis, prop in zip(axes[0], properties, strict=True):
        rows = [v for v in values if v[1] == prop][:30]
        labels = [f"{i + 1}" for i in range(len(rows))]
        colours = ["tab:blue" if kind == "measured" else "tab:orange" for *_, kind in rows]
        axis.bar(labels, [r[2] for r in rows], yerr=[r[3] or 0 for r in rows], color=colours, capsize=3)
        axis.set_title(f"{prop} (blue measured, orange predicted)")
        axis.set_xlabel("molecule (see table)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
