"""Metadata of the served objects: Salesforce `describe` and NetSuite record JSON Schemas.

Both are derived from the columns the servers actually serve (so a query and its
metadata never disagree) plus a few declarations the world's DuckDB types cannot carry:
which Salesforce fields are picklists, references, currencies or percentages.
Declarations are keyed by the world's own table and column names; a caller serving the
world under other names (an org shape) passes the mapping to the served names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from source_servers.world import names as N
from source_servers.world.crm import OPEN_STAGES

SF_API_PREFIX = "/services/data/v61.0"
MASTER_RECORD_TYPE_ID = "012000000000000AAA"  # Salesforce's id of every object's Master type

# (world table, world column) -> the values a picklist is known to allow (the world's
# distinct values are added when described: some sets exist only in the generator's code).
PICKLISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("account", "Region__c"): N.REGIONS,
    ("account", "Partner_Tier__c"): N.TIERS,
    ("account", "Partner_Type__c"): N.PARTNER_TYPES,
    ("account", "Partner_Status__c"): (),
    ("opportunity", "Partner_Role__c"): (),
    ("opportunity", "StageName"): (*(s for s, _ in OPEN_STAGES), "Closed Won", "Closed Lost"),
    ("deal_registration__c", "Status__c"): (),
    ("lead", "Status"): (),
    ("lead", "LeadSource"): (),
    ("campaign", "Type"): N.CAMPAIGN_TYPES,
}

# (world table, world column) -> the world table the id points to.
REFERENCES: dict[tuple[str, str], str] = {
    ("opportunity", "AccountId"): "account",
    ("opportunity", "PartnerAccountId"): "account",
    ("opportunity", "Deal_Registration__c"): "deal_registration__c",
    ("opportunity", "CampaignId"): "campaign",
    ("lead", "PartnerAccountId"): "account",
    ("lead", "CampaignId"): "campaign",
    ("lead", "ConvertedOpportunityId"): "opportunity",
    ("deal_registration__c", "Partner_Account__c"): "account",
    ("deal_registration__c", "End_Customer__c"): "account",
    ("deal_registration__c", "Opportunity__c"): "opportunity",
    ("campaign", "Partner_Account__c"): "account",
}

CURRENCY_FIELDS = {"Amount", "ActualCost", "Recruitment_Cost__c", "Estimated_Amount__c"}
PERCENT_FIELDS = {"Probability"}


# ---------------------------------------------------------------------------------------
# Salesforce
# ---------------------------------------------------------------------------------------


def sf_label(name: str) -> str:
    """A human label from an API name: `Partner_Tier__c` -> `Partner Tier`,
    `PartnerAccountId` -> `Partner Account ID`."""
    if name.endswith("__c"):
        return name[:-3].replace("_", " ")
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ")
    return re.sub(r"\bId$", "ID", spaced)


@dataclass(frozen=True)
class SfField:
    """One served field and where it comes from in the world (for its declarations)."""

    name: str
    duckdb_type: str
    origins: tuple[tuple[str, str], ...]  # (world table, world column) it is served from
    reference_to: tuple[str, ...] = ()  # served object names
    known_values: tuple[str, ...] | None = None  # set when a picklist (already mapped)


@dataclass(frozen=True)
class RecordType:
    """A record type of a served object (`RecordType.DeveloperName` in SOQL)."""

    developer_name: str
    label: str
    record_type_id: str


@dataclass(frozen=True)
class SfObject:
    """A served sObject: its API name and the DuckDB relation serving it."""

    name: str
    schema: str
    relation: str
    fields: tuple[SfField, ...] = ()
    record_types: tuple[RecordType, ...] = field(default=())


def sf_field_type(f: SfField) -> str:
    """The Salesforce field type of a served field."""
    t = f.duckdb_type.upper()
    if f.name == "Id":
        return "id"
    if f.reference_to:
        return "reference"
    if f.known_values is not None:
        return "picklist"
    if t == "BOOLEAN":
        return "boolean"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT"):
        return "int"
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        if f.name in CURRENCY_FIELDS or any(col in CURRENCY_FIELDS for _, col in f.origins):
            return "currency"
        if f.name in PERCENT_FIELDS:
            return "percent"
        return "double"
    return "string"


def sobjects_list(objects: Iterable[SfObject]) -> dict[str, Any]:
    """The body of `GET /sobjects/` (the describeGlobal call)."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [
            {
                **_object_header(o),
                "urls": {
                    "sobject": f"{SF_API_PREFIX}/sobjects/{o.name}",
                    "describe": f"{SF_API_PREFIX}/sobjects/{o.name}/describe",
                },
            }
            for o in objects
        ],
    }


def _object_header(o: SfObject) -> dict[str, Any]:
    return {
        "name": o.name,
        "label": sf_label(o.name),
        "custom": o.name.endswith("__c"),
        "queryable": True,
    }


def describe(o: SfObject, distinct: Callable[[str], list[str]]) -> dict[str, Any]:
    """The body of `GET /sobjects/<Name>/describe`; `distinct(field)` gives a picklist
    field's values present in the served data."""
    fields = []
    for f in o.fields:
        kind = sf_field_type(f)
        values: list[str] = []
        if kind == "picklist":
            values = list(f.known_values or ())
            values += [v for v in distinct(f.name) if v not in values]
        fields.append(
            {
                "name": f.name,
                "label": sf_label(f.name),
                "type": kind,
                "custom": f.name.endswith("__c"),
                # Salesforce never lets ids or checkboxes be null.
                "nillable": kind not in ("id", "boolean"),
                "filterable": True,
                "picklistValues": [
                    {"value": v, "label": v, "active": True, "defaultValue": False} for v in values
                ],
                "referenceTo": list(f.reference_to),
            }
        )
    master = RecordType("Master", "Master", MASTER_RECORD_TYPE_ID)
    return {
        **_object_header(o),
        "fields": fields,
        "recordTypeInfos": [
            {
                "developerName": rt.developer_name,
                "name": rt.label,
                "recordTypeId": rt.record_type_id,
                "active": True,
                "available": True,
                "master": rt is master,
            }
            for rt in (*o.record_types, master)
        ],
    }


# ---------------------------------------------------------------------------------------
# NetSuite
# ---------------------------------------------------------------------------------------

RECORD_TITLES = {
    "transactionline": "Transaction Line",
    "currencyrate": "Currency Rate",
    "customrecord_mdf_payment": "MDF Payment",
}


def ns_title(name: str) -> str:
    """A record or field title: `customrecord_mdf_payment` -> `MDF Payment`."""
    if name in RECORD_TITLES:
        return RECORD_TITLES[name]
    words = re.sub(r"^(customrecord|custrecord|custentity)_", "", name).split("_")
    return " ".join(w.capitalize() for w in words if w)


def json_schema_property(name: str, duckdb_type: str) -> dict[str, Any]:
    """The JSON Schema of one record field from its DuckDB type."""
    t = duckdb_type.upper()
    prop: dict[str, Any] = {"title": ns_title(name)}
    if t == "BOOLEAN":
        prop["type"] = "boolean"
    elif t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"):
        prop["type"] = "integer"
    elif t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        prop["type"] = "number"
    elif t == "DATE":
        prop.update(type="string", format="date")
    elif t.startswith("TIMESTAMP"):
        prop.update(type="string", format="date-time")
    else:
        prop["type"] = "string"
    prop["nullable"] = True
    return prop


def record_catalog(records: Iterable[str], base_url: str) -> dict[str, Any]:
    """The body of `GET /services/rest/record/v1/metadata-catalog/`."""
    return {
        "items": [
            {
                "name": name,
                "links": [
                    {
                        "rel": "alternate",
                        "mediaType": "application/schema+json",
                        "href": f"{base_url}/{name}",
                    }
                ],
            }
            for name in records
        ]
    }


def record_schema(name: str, columns: list[tuple[str, str]]) -> dict[str, Any]:
    """The JSON Schema of one record (`metadata-catalog/<record>`)."""
    return {
        "type": "object",
        "title": ns_title(name),
        "properties": {col: json_schema_property(col, dtype) for col, dtype in columns},
    }


def sf_fields(
    columns: list[tuple[str, str]],
    origins: dict[str, list[tuple[str, str]]],
    served_names: dict[str, str],
    value_maps: dict[tuple[str, str], dict[str, str]],
) -> tuple[SfField, ...]:
    """The described fields of a served relation.

    `origins` gives each served column's (world table, world column) sources,
    `served_names` the served object name of each world table, `value_maps` the picklist
    value renames of a world column. Relationship columns (`RecordType.DeveloperName`)
    are queryable but, as in Salesforce, not fields of the object.
    """
    out = []
    for col, dtype in columns:
        if "." in col:
            continue
        sources = tuple(origins.get(col, ()))
        refs = {served_names[REFERENCES[o]] for o in sources if o in REFERENCES}
        if col == "RecordTypeId":
            refs = {"RecordType"}
        known = None
        for o in sources:
            if o in PICKLISTS:
                mapping = value_maps.get(o, {})
                known = (known or ()) + tuple(
                    v for v in (mapping.get(x, x) for x in PICKLISTS[o]) if v not in (known or ())
                )
        out.append(SfField(col, dtype, sources, tuple(sorted(refs)), known))
    return tuple(out)
