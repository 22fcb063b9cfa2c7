"""The composition root: settings, build_app(), the planner graph, campaigns and the CLI.

Nothing imports agent.
"""
