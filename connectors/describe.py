"""The org's mapping against the sources' own metadata (`partnerpulse config check`).

Salesforce describes each object (`sobjects/<Object>/describe`: fields, types, picklist
values); NetSuite describes each record (`metadata-catalog/<record>`, a JSON Schema). Every
mapped object, field and picklist value is looked up there, and every problem is listed
with the line of the configuration file that names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.config import Settings
from connectors.http import SourceError, is_object
from connectors.netsuite import NetSuiteClient
from connectors.org import LOGICAL, OrgConfig, locator
from connectors.salesforce import API_VERSION, SalesforceClient
from connectors.schema import source_columns

# The Salesforce and NetSuite types each logical type may be read from.
SALESFORCE_TYPES: dict[str, set[str]] = {
    "VARCHAR": {
        "id",
        "string",
        "textarea",
        "picklist",
        "multipicklist",
        "reference",
        "email",
        "phone",
        "url",
        "combobox",
    },
    "DOUBLE": {"double", "currency", "percent", "int", "long"},
    "BIGINT": {"int", "long", "double"},
    "INTEGER": {"int"},
    "BOOLEAN": {"boolean"},
    "DATE": {"date"},
    "TIMESTAMP": {"datetime"},
}
NETSUITE_TYPES: dict[str, set[str]] = {
    "VARCHAR": {"string", "integer", "number"},
    "DOUBLE": {"number", "integer"},
    "BIGINT": {"integer", "number", "string"},  # list/record references are ids
    "INTEGER": {"integer", "number"},
    "BOOLEAN": {"boolean", "string"},  # SuiteQL answers checkboxes as 'T' / 'F'
    "DATE": {"string:date"},
    "TIMESTAMP": {"string:date-time"},
}
METADATA_PATH = "/services/rest/record/v1/metadata-catalog"

Problem = Callable[[tuple[str, ...], str], None]


def check_against_sources(settings: Settings, org: OrgConfig) -> list[str]:
    """Every mapped object, field and picklist value the sources do not have, each naming
    its line in the configuration file; a source that cannot be reached is one problem."""
    at = locator(settings.config_path)
    problems: list[str] = []

    def problem(loc: tuple[str, ...], message: str) -> None:
        problems.append(f"{at(loc)}{message}")

    for source, check in (("crm", _check_crm), ("erp", _check_erp)):
        try:
            check(settings, org, problem)
        except (SourceError, ValueError) as exc:
            problem((source,), f"{source}: cannot read its metadata: {exc}")
    return problems


def _plain(value: Any) -> Any:
    """A metadata body as plain Python (small, and read whole)."""
    return value.as_dict() if is_object(value) else value


def _check_crm(settings: Settings, org: OrgConfig, problem: Problem) -> None:
    client = SalesforceClient(settings)
    try:
        base = f"{client.instance_url}/services/data/{API_VERSION}/sobjects"
        for name, mapping in org.crm.items():
            try:
                resp = client.http.request("GET", f"{base}/{mapping.object}/describe")
            except SourceError as exc:
                if exc.status != 404:
                    raise
                message = f"{name}: Salesforce has no object {mapping.object!r}"
                problem(("crm", name, "object"), message)
                continue
            body = _plain(client.http.parse_json(resp, "GET", base))
            fields = body.get("fields") if isinstance(body, dict) else None
            described = {
                f["name"].lower(): f
                for f in fields or []
                if isinstance(f, dict) and isinstance(f.get("name"), str)
            }
            _check_fields(
                ("crm", name),
                org,
                described,
                owner=mapping.object,
                kind=lambda found: f"a {found.get('type')} field",
                allowed=lambda found, duck_type: found.get("type") in SALESFORCE_TYPES[duck_type],
                problem=problem,
            )
    finally:
        client.close()


def _check_erp(settings: Settings, org: OrgConfig, problem: Problem) -> None:
    client = NetSuiteClient(settings)
    try:
        base = client.base_url + METADATA_PATH
        headers = {"Accept": "application/schema+json"}
        for name, mapping in org.erp.items():
            try:
                resp = client.http.request("GET", f"{base}/{mapping.object}", headers=headers)
            except SourceError as exc:
                if exc.status != 404:
                    raise
                problem(
                    ("erp", name, "object"), f"{name}: NetSuite has no record {mapping.object!r}"
                )
                continue
            body = _plain(client.http.parse_json(resp, "GET", base))
            properties = body.get("properties") if isinstance(body, dict) else None
            described = {k.lower(): v for k, v in (properties or {}).items() if isinstance(v, dict)}
            _check_fields(
                ("erp", name),
                org,
                described,
                owner=f"record {mapping.object}",
                kind=_json_schema_kind,
                allowed=lambda found, duck_type: (
                    _json_schema_kind(found) in NETSUITE_TYPES[duck_type]
                ),
                problem=problem,
            )
    finally:
        client.close()


def _json_schema_kind(found: dict[str, Any]) -> str:
    """A JSON Schema property's type, with its format where it says date or date-time."""
    kind = str(found.get("type"))
    return f"{kind}:{found['format']}" if found.get("format") in ("date", "date-time") else kind


def _check_fields(
    loc: tuple[str, ...],
    org: OrgConfig,
    described: dict[str, dict[str, Any]],
    *,
    owner: str,
    kind: Callable[[dict[str, Any]], str],
    allowed: Callable[[dict[str, Any], str], bool],
    problem: Problem,
) -> None:
    """Every column the object's raw table reads (connectors.schema.source_columns) against
    the source's description of its fields (lower-cased name -> field); picklist values too."""
    name = loc[1]
    mapping = org.mapping(name)
    for column in source_columns(name, org).values():
        field_name, logical = column.source_field, column.logical
        floc = (*loc, "fields", logical) if logical else loc
        found = described.get(field_name.lower())
        if found is None:
            problem(floc, f"{name}: {owner} has no field {field_name!r}")
            continue
        if not allowed(found, column.duck_type):
            problem(
                floc,
                f"{name}: {mapping.object}.{field_name} is {kind(found)}; "
                f"{logical or field_name} needs {column.duck_type}",
            )
        if logical in LOGICAL[name].picklists:
            values = mapping.values.get(logical, {})
            _check_values(f"{name}.{logical}", values, found, (*loc, "values", logical), problem)


def _check_values(
    what: str, values: dict[str, str], field: dict[str, Any], loc: tuple[str, ...], problem: Problem
) -> None:
    """The org's active picklist values the map does not cover."""
    for entry in field.get("picklistValues") or []:
        if (
            isinstance(entry, dict)
            and entry.get("active", True)
            and entry.get("value") not in values
        ):
            problem(
                loc,
                f"{what}: the org's value {entry.get('value')!r} of {field['name']} is not "
                "mapped to a value the metrics use",
            )
