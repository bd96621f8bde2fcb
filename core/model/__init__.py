"""Canonical SFA model.

`schemas` (pydantic, what mappings produce and the API exposes) and `tables` (SQLAlchemy)
are separate modules so that mappings can depend on the schemas without the database.
"""
