"""Annotated field types of the canonical model.

Every constraint lives in `Annotated` metadata (no validator methods on models), so the
same types validate a pydantic model and the TypedDict the sync engine derives from it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from core.clock import as_utc
from core.model.uscc import validate_uscc

Text16 = Annotated[str, StringConstraints(max_length=16)]
Text32 = Annotated[str, StringConstraints(max_length=32)]
Text64 = Annotated[str, StringConstraints(max_length=64)]
Text255 = Annotated[str, StringConstraints(max_length=255)]
Text2000 = Annotated[str, StringConstraints(max_length=2000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]
LineNumber = Annotated[int, Field(ge=0, le=2_147_483_647)]
"""Fits the INTEGER column on every database."""

# Constraints below run inside pydantic-core (no Python callback): they are on the hot path.
# pydantic-core matches the pattern before changing case, hence [A-Za-z].
CurrencyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
]
Uscc = Annotated[str, AfterValidator(validate_uscc)]
# E-mail addresses are compared case-insensitively (as HubSpot and Salesforce do).
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=255,
        pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$",
    ),
]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(as_utc)]

Money = Annotated[Decimal, Field(max_digits=19, decimal_places=4, allow_inf_nan=False)]
Quantity = Annotated[Decimal, Field(max_digits=19, decimal_places=6, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]
Latitude = Annotated[Decimal, Field(ge=-90, le=90, max_digits=9, decimal_places=6)]
Longitude = Annotated[Decimal, Field(ge=-180, le=180, max_digits=10, decimal_places=6)]
Rating = Annotated[int, Field(ge=1, le=5)]

__all__ = [
    "Code",
    "CountryCode",
    "CurrencyCode",
    "Email",
    "Latitude",
    "Longitude",
    "Money",
    "Name",
    "Percent",
    "Quantity",
    "Rating",
    "Text16",
    "Text32",
    "Text64",
    "Text255",
    "Text2000",
    "Uscc",
    "UtcDatetime",
    "datetime",
]
