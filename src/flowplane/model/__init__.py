"""Pydantic models: the one source of truth for the graph, the CRD specs and statuses."""
