"""``python -m connectors.files --config config.json``: the files tap as a Singer CLI."""

from connectors.files.tap import FilesTap

FilesTap.cli()
