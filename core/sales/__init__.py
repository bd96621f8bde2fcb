"""Lead-to-cash domain services over the canonical store (issue 5: lead management).

Pure functions over plain values, usable without a database:

* `attribute_score` — the ideal-customer profile score with its explanation and the
  combined A1–C3 grade;
* `behaviour` — touchpoint points with per-type half-life decay and group caps;
* `pls` — predictive lead scoring as Odoo computes it; `ml` — the calibrated logistic
  regression as plain parameters; `batch` — the vectorised scorers (equal to the above);
* `routing` — the first-match routing ladder, round-robin and capacity-weighted
  assignment, and the simulation that changes nothing;
* `rfm`, `ltv` — RFM scores and segments, customer lifetime value;
* `dedup`, `phones` — keys and scores that find duplicate leads, accounts and contacts.

Over the store: `documents` (per-tenant settings), `customer_value` (RFM/LTV of
accounts) and `leads/` (pools, the one ownership service, routing runs, touchpoints,
scoring runs, duplicates, merges, conversion). Services take a session and never commit.
"""
