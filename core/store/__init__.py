"""The canonical store: engine and sessions, migrations, batch upsert, change log,
stream state and quarantine."""
