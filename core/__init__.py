"""L2C Hub's domain: canonical model, store and sync engine. Imports nothing else of ours."""
