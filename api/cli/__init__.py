"""The `l2c` command line."""
