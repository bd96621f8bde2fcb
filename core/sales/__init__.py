"""Lead-to-cash domain services over the canonical store (issue 5: lead management).

The modules here so far are pure functions over plain values, with no storage yet:

* `attribute_score` — the ideal-customer profile score with its explanation and the
  combined A1–C3 grade;
* `behaviour` — touchpoint points with per-type half-life decay and group caps;
* `pls` — predictive lead scoring as Odoo computes it;
* `routing` — the first-match routing ladder, round-robin and capacity-weighted
  assignment, and the simulation that changes nothing;
* `rfm`, `ltv` — RFM scores and segments, customer lifetime value;
* `dedup`, `phones` — keys and scores that find duplicate leads, accounts and contacts.
"""
