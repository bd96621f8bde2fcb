"""Lead-to-cash domain services over the canonical store (issue 5: lead management).

The modules here so far are pure: predictive lead scoring as Odoo computes it
(`pls`), RFM scores and segments (`rfm`), customer lifetime value (`ltv`), and the keys
and scores that find duplicate leads, accounts and contacts (`dedup`, `phones`).
"""
