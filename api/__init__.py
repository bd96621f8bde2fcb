"""Outside surfaces: the CLI (api.cli) now; HTTP and the console later."""
