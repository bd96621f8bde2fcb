"""Throughput of CompiledMapping.map() on one core (not a test; no timing asserts).

    .venv/bin/python tests/mappings/bench_map.py

1. A 15-field account mapping over an SAP-OData-like record: plain and nested paths, a
   few transforms (decimal, datetime with a format, value_map, currency, trim/upper).
2. The shipped files/demo_accounts mapping (13 fields, key, source_ts) over a CSV row.

CPU time of this process, best of 3: other processes on the box disturb it less.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mappings.catalog import load_mapping
from mappings.loader import load_text
from mappings.runtime import CompiledMapping

SPEC = """
version: 1
source: {connector: sap, stream: business_partners}
target: account
key: BusinessPartner
source_ts:
  from: LastChange
  transform: {datetime: {format: "%Y-%m-%d %H:%M:%S", tz: Asia/Shanghai}}
match: [uscc, name]
owns: [credit_limit]
fields:
  name: {from: OrganizationBPName1, transform: trim}
  legal_name: OrganizationBPName2
  uscc: {from: TaxNumber1, transform: [trim, upper]}
  industry: {from: Industry, transform: {value_map: {map: {"01": manufacturing, "02": retail}}}}
  lifecycle: {const: customer}
  country: to_BusinessPartnerAddress.results[0].Country
  province: to_BusinessPartnerAddress.results[0].Region
  city: to_BusinessPartnerAddress.results[0].CityName
  address: to_BusinessPartnerAddress.results[0].StreetName
  postal_code: to_BusinessPartnerAddress.results[0].PostalCode
  phone: to_BusinessPartnerAddress.results[0].to_PhoneNumber.results[0].PhoneNumber
  email:
    from: to_BusinessPartnerAddress.results[0].to_EmailAddress.results[0].EmailAddress
    transform: lower
  credit_limit: {from: CreditLimit, transform: decimal}
  credit_currency: {from: Currency, transform: currency}
  payment_terms: PaymentTerms
"""

RECORD = {
    "BusinessPartner": "1000042",
    "OrganizationBPName1": " 上海华东精密机械有限公司 ",
    "OrganizationBPName2": "上海华东精密机械有限公司",
    "TaxNumber1": "91310115ma1k4b2x34",
    "Industry": "01",
    "CreditLimit": "1,200,000.00",
    "Currency": "RMB",
    "PaymentTerms": "Z060",
    "LastChange": "2024-05-06 14:30:00",
    "to_BusinessPartnerAddress": {
        "results": [
            {
                "Country": "CN",
                "Region": "31",
                "CityName": "上海市",
                "StreetName": "张江路88号",
                "PostalCode": "201203",
                "to_PhoneNumber": {"results": [{"PhoneNumber": "021-50801234"}]},
                "to_EmailAddress": {"results": [{"EmailAddress": "Sales@HDJM.com.cn"}]},
            }
        ]
    },
}


def rate(mapping: CompiledMapping, records: list[dict[str, Any]]) -> float:
    mapping.map(records[0])
    best = 0.0
    for _ in range(3):
        start = time.process_time()
        for record in records:
            mapping.map(record)
        best = max(best, len(records) / (time.process_time() - start))
    return best


def main() -> None:
    n = 200_000
    sap = [dict(RECORD, BusinessPartner=str(1000000 + i)) for i in range(n)]
    print(
        f"SAP-shaped, 15 fields:       {rate(load_text(SPEC, name='bench'), sap):>9,.0f} records/s"
    )
    golden = Path(__file__).parent / "golden" / "files" / "demo_accounts" / "input.json"
    row = json.loads(golden.read_text(encoding="utf-8"))[0]
    csv = [dict(row, customer_code=f"C{i}") for i in range(n)]
    accounts = load_mapping("files/demo_accounts")
    print(f"files/demo_accounts, CSV row: {rate(accounts, csv):>9,.0f} records/s")


if __name__ == "__main__":
    main()
