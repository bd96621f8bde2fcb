"""Secret encryption (and, later, API keys and the URL guard)."""
