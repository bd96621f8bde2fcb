"""The worker's composition root: wires connectors, mappings and core.sync together.

The Celery app and the DB-driven beat arrive with the service issue; the functions here
are what its tasks, the CLI and the API call.
"""
