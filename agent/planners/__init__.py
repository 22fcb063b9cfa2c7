"""Planners: the LLM planner (OpenAI-compatible endpoints), the offline planner, and the scripted planner."""
