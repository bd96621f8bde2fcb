"""Lead management over the store: pools and the one ownership service, routing runs,
touchpoints, scoring runs, duplicates, merges and conversion."""
