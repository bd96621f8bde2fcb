"""The sync engine: Singer messages in -> mapped -> validated -> upserted in batches.

Core does not import mappings or connectors: callers hand it a `Mapper` per stream and
feed it Singer messages from an in-process tap, a tap subprocess or stdin.
"""
