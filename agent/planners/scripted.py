"""A planner that plays back a fixed script: for graph tests, and for anyone replaying a recorded plan."""

from __future__ import annotations

from collections.abc import Sequence

from agent.plan import Answer, Plan, StepRecord


class ScriptedPlanner:
    name = "scripted"

    def __init__(self, script: Sequence[Plan | Answer]) -> None:
        self._script = list(script)
        self.calls: list[tuple[str, int]] = []

    def plan(self, objective: str, history: list[StepRecord]) -> Plan | Answer:
        """The n-th decision of the script, n being how many times the graph asked so far in this run.

        The position is derived from the history (how many plans have been fully consumed), so a resumed run in a
        new process gets the same decisions.
        """
        self.calls.append((objective, len(history)))
        consumed, steps_seen = 0, 0
        for decision in self._script:
            if isinstance(decision, Answer):
                break
            if steps_seen + len(decision.steps) > len(history):
                break
            steps_seen += len(decision.steps)
            consumed += 1
        if consumed >= len(self._script):
            return Answer(text="The script is finished.")
        return self._script[consumed]
