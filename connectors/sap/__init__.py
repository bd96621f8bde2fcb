"""The SAP connector family.

* `sap_odata` — S/4HANA OData V2 APIs (business partners, products, sales orders,
  billing documents), sales-order write-back and SAP Event Mesh business events;
* `sap_soap` — ECC-style BAPI web services through zeep;
* `sap_idoc` — IDoc-XML files over SFTP (DEBMAS, INVOIC, ORDERS in; ORDERS05 out).

`fake` is a fake S/4HANA OData service for tests, benchmarks and trying the
connector without an SAP system.
"""
