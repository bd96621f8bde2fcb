"""Business partners: Chinese organisations (mostly) and persons, as full customer trees.

One partner = A_BusinessPartner with an address (e-mail, phone), roles FLCU00/FLCU01, a CN5
tax number (a valid USCC) for organisations, and A_Customer with sales area 1010/10/00.
"""

from __future__ import annotations

from array import array
from typing import Any

from . import cn
from .seeds import (
    ADDRESS_BASE,
    FOREVER,
    NULL,
    USER,
    Draw,
    GeneratorBase,
    bp_key,
    fake_uuid,
    mix,
)
from .wire import TICKS_PER_DAY, TICKS_PER_SECOND, datetime_wire, datetimeoffset_wire, time_wire

# Values every generated partner shares (dict literals with ** are cheaper than calls).
_BP = {
    "BusinessPartnerGrouping": "BP02",
    "CorrespondenceLanguage": "ZH",
    "Language": "ZH",
    "CreatedByUser": USER,
}
_EMAIL = {"OrdinalNumber": "1", "IsDefaultEmailAddress": True}
_PHONE = {
    "OrdinalNumber": "1",
    "DestinationLocationCountry": "CN",
    "IsDefaultPhoneNumber": True,
    "PhoneNumberType": "1",
}
_ADDRESS = {
    "ValidityEndDate": FOREVER,
    "Country": "CN",
    "Language": "ZH",
    "AddressTimeZone": "UTC+8",
}
_CUSTOMER = {"CustomerAccountGroup": "CUST", "CreatedByUser": USER}
_SALES_AREA = {
    "SalesOrganization": "1010",
    "DistributionChannel": "10",
    "Division": "00",
    "Currency": "CNY",
    "CustomerPricingProcedure": "01",
    "ShippingCondition": "01",
    "SupplyingPlant": "1010",
    "IncotermsVersion": "2020",
    "CustomerGroup": "01",
    "CustomerAccountAssignmentGroup": "01",
    "DeliveryPriority": "02",
    "SalesOffice": "1010",
    "OrderCombinationIsAllowed": True,
    "ExchangeRateType": "M",
    "CustomerAccountGroup": "CUST",
}
_PAYMENT_TERMS = ("0001", "0004", "NT30", "NT60")
_INCOTERMS = ("EXW", "FCA", "DAP")


class Partners(GeneratorBase):
    def business_partner(self, i: int, col: dict[str, array[int]]) -> dict[str, Any]:
        r = Draw(self.seed, i, 100)
        t = self.t  # the type names below say what each dict is; entities are plain dicts
        number = bp_key(i)
        city = r.choice(cn.CITIES)
        created, created_t = col["CreationDate"][i], col["CreationTime"][i]
        changed, changed_t = col["LastChangeDate"][i], col["LastChangeTime"][i]
        person = r.random() < 0.1
        industry = r.choice(cn.INDUSTRIES)
        if person:
            last, first = r.choice(cn.SURNAMES), r.choice(cn.GIVEN_NAMES)
            name = last + first
            male = r.random() < 0.5
            bp = t.new(
                "A_BusinessPartnerType",
                BusinessPartnerCategory="1",
                FirstName=first,
                LastName=last,
                PersonFullName=name,
                IsNaturalPerson="X",
                IsMale=male,
                IsFemale=not male,
                FormOfAddress="0002" if male else "0001",
                GenderCodeName="2" if male else "1",
            )
        else:
            name = city.name + r.choice(cn.TRADE_NAMES) + industry[0] + r.choice(cn.LEGAL_SUFFIXES)
            bp = t.new(
                "A_BusinessPartnerType",
                BusinessPartnerCategory="2",
                OrganizationBPName1=name[:40],
                Industry=industry[2],
                LegalForm="",
                OrganizationFoundationDate=datetime_wire(
                    created - r.randrange(365, 9000) * TICKS_PER_DAY
                ),
            )
        stamp_c = datetime_wire(created)
        changed_wire = None if changed == NULL else datetime_wire(changed)
        bp.update(
            BusinessPartner=number,
            Customer=number,
            BusinessPartnerFullName=name,
            BusinessPartnerName=name,
            BusinessPartnerUUID=fake_uuid(mix(self.seed, i, 4) << 64 | mix(self.seed, i, 8)),
            CreationDate=stamp_c,
            CreationTime=time_wire(created_t),
            LastChangeDate=changed_wire,
            LastChangeTime=None if changed == NULL else time_wire(changed_t),
            LastChangedByUser="" if changed == NULL else USER,
            SearchTerm1=city.pinyin[:20],
            SearchTerm2=number[-8:],
            ETag=f"{(changed if changed != NULL else created) // TICKS_PER_SECOND}",
            **_BP,
        )
        since = datetimeoffset_wire(created)
        address_id = str(ADDRESS_BASE + i)
        phone = f"{r.randrange(10_000_000, 99_999_999)}"
        domain = f"{industry[1].split()[0].lower()}{number[-6:]}.{r.choice(cn.EMAIL_DOMAINS)}"
        email = {
            "AddressID": address_id,
            **_EMAIL,
            "EmailAddress": f"sales@{domain}",
            "SearchEmailAddress": f"SALES@{domain}"[:20].upper(),
        }
        tel = {
            "AddressID": address_id,
            **_PHONE,
            "PhoneNumber": f"0{city.area_code}-{phone}",
            "InternationalPhoneNumber": f"+86{city.area_code}{phone}",
        }
        address = {
            "BusinessPartner": number,
            "AddressID": address_id,
            "ValidityStartDate": since,
            **_ADDRESS,
            "AddressUUID": fake_uuid(mix(self.seed, i, 5) << 64 | mix(self.seed, i, 9)),
            "CityName": city.name + "市",
            "District": city.district,
            "Region": city.region,
            "PostalCode": city.postal + f"{r.below(100):02d}",
            "StreetName": r.choice(cn.STREETS),
            "HouseNumber": f"{r.randrange(1, 2000)}号",
            "FullName": name[:80],
            "to_EmailAddress": [email],
            "to_PhoneNumber": [tel],
        }
        bp["to_BusinessPartnerAddress"] = [address]
        bp["to_BusinessPartnerRole"] = [
            {
                "BusinessPartner": number,
                "BusinessPartnerRole": role,
                "ValidFrom": since,
                "ValidTo": FOREVER,
            }
            for role in ("FLCU00", "FLCU01")
        ]
        if not person:
            code = cn.uscc(city.division, mix(self.seed, i, 6))
            bp["to_BusinessPartnerTax"] = [
                {"BusinessPartner": number, "BPTaxType": "CN5", "BPTaxNumber": code}
            ]
        area = {
            "Customer": number,
            **_SALES_AREA,
            "CustomerPaymentTerms": r.choice(_PAYMENT_TERMS),
            "IncotermsClassification": r.choice(_INCOTERMS),
            "IncotermsLocation1": city.name,
        }
        bp["to_Customer"] = {
            "Customer": number,
            "CustomerName": name[:80],
            "CustomerFullName": name,
            **_CUSTOMER,
            "CreationDate": stamp_c,
            "NFPartnerIsNaturalPerson": "X" if person else "",
            "Industry": industry[2][:4],
            "to_CustomerSalesArea": [area],
        }
        return bp
