"""Your org, by configuration: where each object and field the marts need lives in your
CRM and ERP, and how your picklist values map to the values the metrics use.

The product's side is fixed here (`LOGICAL`): the logical objects, their logical fields and
types, and their raw tables. The org's side is configuration (`OrgConfig`): for each
logical object the source object (Salesforce) or record (NetSuite) that holds it, an
optional filter, the source field of each logical field, and value maps for picklists.

The default org (the stand-in sources' contract) is `vars.org` in
`dbt_project/dbt_project.yml`, so that dbt run by hand builds it too. A file named by
`PARTNERPULSE_CONFIG` is laid over it: each object it names replaces the default's keys it
gives (`fields` and `values` key by key), so a file names only what differs. Raw tables
keep the source's own field names (lower-cased); staging applies the mapping (the `org_*`
macros in `dbt_project/macros/org.sql`, fed the same mapping as dbt vars).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from connectors.pos_layouts import DEFAULT_LAYOUT, PosLayout

DBT_PROJECT_FILE = Path(__file__).resolve().parents[1] / "dbt_project" / "dbt_project.yml"

# Fields every object of a source has, whatever the org: keys, watermark, deletion flag.
# The watermark is the (lower-cased) modification time among them.
WATERMARKS: dict[str, str] = {"crm": "systemmodstamp", "erp": "lastmodifieddate"}
SYSTEM_FIELDS: dict[str, dict[str, str]] = {
    "crm": {"Id": "VARCHAR", "SystemModstamp": "TIMESTAMP", "IsDeleted": "BOOLEAN"},
    "erp": {"id": "BIGINT", "lastmodifieddate": "TIMESTAMP"},
}


class LogicalObject(BaseModel):
    """What the marts need of one object: its raw table, keys and typed logical fields."""

    model_config = ConfigDict(frozen=True)

    source: Literal["crm", "erp"]
    table: str
    fields: dict[str, str]  # logical field -> DuckDB type
    primary_key: tuple[str, ...] = ("id",)
    # System fields this object lacks (NetSuite's lists have no lastmodifieddate).
    no_system: tuple[str, ...] = ()
    # Key columns before `id` (a transaction line is keyed by its transaction too).
    key_prefix: dict[str, str] = Field(default_factory=dict)

    @property
    def watermark(self) -> str | None:
        """The column of the source's modification time (None where the source keeps none:
        NetSuite's lists are read whole)."""
        column = WATERMARKS[self.source]
        return None if column in self.no_system else column

    # The logical fields whose values are mapped (`values` in the configuration); the
    # values the metrics use are `picklist_values()`.
    picklists: tuple[str, ...] = ()


def _fields(spec: str) -> dict[str, str]:
    out = {}
    for part in spec.split(","):
        name, _, typ = part.strip().partition(" ")
        out[name] = typ.strip() or "VARCHAR"
    return out


LOGICAL: dict[str, LogicalObject] = {
    "accounts": LogicalObject(
        source="crm",
        table="account",
        fields=_fields(
            "account_name, account_type, is_partner BOOLEAN, billing_country, region, "
            "industry, partner_tier, partner_type, specialization, partner_since_date DATE, "
            "partner_status, terminated_on_date DATE, recruitment_cost_usd DOUBLE, "
            "erp_partner_id, created_at TIMESTAMP"
        ),
        picklists=("region", "partner_tier", "partner_type", "partner_status"),
    ),
    "opportunities": LogicalObject(
        source="crm",
        table="opportunity",
        fields=_fields(
            "opportunity_name, end_customer_account_id, partner_id, partner_role, "
            "deal_registration_id, campaign_id, stage_name, is_closed BOOLEAN, "
            "is_won BOOLEAN, amount DOUBLE, currency_code, probability DOUBLE, product_line, "
            "created_at TIMESTAMP, close_date DATE"
        ),
        picklists=("partner_role",),
    ),
    "leads": LogicalObject(
        source="crm",
        table="lead",
        fields=_fields(
            "partner_id, lead_status, lead_source, campaign_id, mql_date DATE, sql_date DATE, "
            "converted_date DATE, converted_opportunity_id, created_at TIMESTAMP"
        ),
    ),
    "deal_registrations": LogicalObject(
        source="crm",
        table="deal_registration",
        fields=_fields(
            "partner_id, end_customer_account_id, product_line, estimated_amount DOUBLE, "
            "currency_code, deal_registration_status, submitted_date DATE, decision_date DATE, "
            "expiration_date DATE, opportunity_id"
        ),
        picklists=("deal_registration_status",),
    ),
    "campaigns": LogicalObject(
        source="crm",
        table="campaign",
        fields=_fields(
            "campaign_name, partner_id, campaign_type, start_date DATE, end_date DATE, "
            "actual_cost DOUBLE, currency_code"
        ),
    ),
    "partners": LogicalObject(
        source="erp",
        table="partner",
        fields=_fields(
            "partner_entity_code, company_name, external_account_id, is_inactive BOOLEAN"
        ),
    ),
    "customers": LogicalObject(
        source="erp",
        table="customer",
        fields=_fields("customer_entity_code, company_name"),
    ),
    "classifications": LogicalObject(
        source="erp",
        table="classification",
        no_system=("lastmodifieddate",),
        fields=_fields("product_line_name"),
    ),
    "items": LogicalObject(
        source="erp",
        table="item",
        fields=_fields("sku, item_name, product_line_id BIGINT, standard_cost_usd DOUBLE"),
    ),
    "currencies": LogicalObject(
        source="erp",
        table="currency",
        no_system=("lastmodifieddate",),
        fields=_fields("currency_code"),
    ),
    "currency_rates": LogicalObject(
        source="erp",
        table="currencyrate",
        no_system=("lastmodifieddate",),
        fields=_fields(
            "base_currency_id BIGINT, currency_id BIGINT, usd_per_unit DOUBLE, effective_date DATE"
        ),
    ),
    "transactions": LogicalObject(
        source="erp",
        table="transaction",
        fields=_fields(
            "transaction_number, transaction_type, transaction_date DATE, "
            "erp_customer_id BIGINT, erp_partner_id BIGINT, currency_id BIGINT, "
            "usd_per_unit DOUBLE, transaction_status, memo"
        ),
    ),
    "transaction_lines": LogicalObject(
        source="erp",
        table="transactionline",
        primary_key=("transaction", "id"),
        key_prefix={"transaction": "BIGINT"},
        fields=_fields(
            "line_sequence_number INTEGER, item_id BIGINT, quantity DOUBLE, unit_rate DOUBLE, "
            "net_amount DOUBLE, is_mainline BOOLEAN, is_taxline BOOLEAN"
        ),
    ),
    "mdf_payments": LogicalObject(
        source="erp",
        table="customrecord_mdf_payment",
        fields=_fields(
            "erp_partner_id BIGINT, mdf_claim_id, amount DOUBLE, currency_id BIGINT, paid_date DATE"
        ),
    ),
}


def _source_name(value: str) -> str:
    # Names go into SOQL, SuiteQL and SQL as they are: nothing but an identifier passes.
    if not value.replace("_", "").isalnum() or not value.isascii():
        raise ValueError(f"{value!r} is not a field or object name (letters, digits, _)")
    return value


SourceName = Annotated[str, AfterValidator(_source_name)]


class ObjectMapping(BaseModel):
    """Where one logical object lives in the org (one entry of the configuration)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    object: SourceName = Field(description="The Salesforce object or NetSuite record.")
    filter: str | None = Field(
        default=None,
        description="A condition the source's query adds with AND (SOQL or SuiteQL), e.g. "
        "RecordType.DeveloperName = 'Deal_Registration'.",
    )
    fields: dict[str, SourceName] = Field(description="Logical field -> the source's field.")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Logical field -> {the org's picklist value: the logical value}.",
    )

    def column(self, logical: str) -> str:
        """The raw column holding `logical`: the source field's name, lower-cased."""
        return self.fields[logical].lower()


class PosConfig(BaseModel):
    """The layouts partners' POS files come in besides the default one (docs/pos-layouts.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layouts: list[PosLayout] = Field(default_factory=list)


class OrgConfig(BaseModel):
    """The whole mapping: `crm` and `erp`, each logical object name -> its mapping, and the
    POS file layouts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    crm: dict[str, ObjectMapping]
    erp: dict[str, ObjectMapping]
    pos: PosConfig = Field(default_factory=PosConfig)

    def mapping(self, logical: str) -> ObjectMapping:
        return getattr(self, LOGICAL[logical].source)[logical]

    @property
    def pos_layouts(self) -> tuple[PosLayout, ...]:
        """The configured layouts, then the default one (tried last)."""
        return (*self.pos.layouts, DEFAULT_LAYOUT)

    def dbt_vars(self) -> dict[str, Any]:
        """The mapping as dbt reads it (`var('org')`): staging needs no POS layouts."""
        return {"org": self.model_dump(mode="json", exclude_none=True, exclude={"pos"})}


class OrgConfigError(ValueError):
    """Every problem of a configuration file, one per line, each naming where it is."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = str(path) if path else "the default org"
        super().__init__(f"{where}: {len(problems)} problem(s)\n" + "\n".join(problems))


@functools.cache
def _dbt_vars() -> dict[str, Any]:
    return yaml.safe_load(DBT_PROJECT_FILE.read_text())["vars"]


def _default_document() -> dict[str, Any]:
    return copy.deepcopy(_dbt_vars()["org"])


def picklist_values() -> dict[str, tuple[str, ...]]:
    """The values the metrics use, per picklist field (var `picklist_values`)."""
    return {k: tuple(v) for k, v in _dbt_vars()["picklist_values"].items()}


def _lay_over(default: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` over `default`, object by object; `fields` and `values` key by key."""
    merged = copy.deepcopy(default)
    for source, objects in given.items():
        if not isinstance(objects, Mapping):
            merged[source] = objects  # reported by validation, at its line
            continue
        target = merged.setdefault(source, {})
        for name, entry in objects.items():
            base = target.get(name)
            if not isinstance(entry, Mapping) or not isinstance(base, Mapping):
                target[name] = entry
                continue
            out = {**base, **entry}
            for key in ("fields", "values"):
                if isinstance(entry.get(key), Mapping) and isinstance(base.get(key), Mapping):
                    out[key] = {**base[key], **entry[key]}
            target[name] = out
    return merged


def _lines(text: str) -> dict[tuple[str, ...], int]:
    """The 1-based line of every key path in a YAML document (for error messages)."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):  # pos.layouts.0.columns: an item's index
            for index, item in enumerate(node.value):
                walk(item, (*path, str(index)))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def _locator(text: str) -> Callable[[tuple[str, ...]], str]:
    """`at(key path)`: "line N: " of the deepest part of the path the file names."""
    lines = _lines(text) if text else {}

    def at(loc: tuple[str, ...]) -> str:
        for n in range(len(loc), 0, -1):
            if loc[:n] in lines:
                return f"line {lines[loc[:n]]}: "
        return ""

    return at


def locator(path: Path | None) -> Callable[[tuple[str, ...]], str]:
    """Where a key path is in the file at `path` ("" for what only the default org sets)."""
    return _locator(Path(path).read_text() if path else "")


def _semantic_problems(config: OrgConfig) -> list[tuple[tuple[str, ...], str]]:
    """What a schema cannot say: unknown logical objects and fields, unmapped fields,
    value maps onto values the metrics do not know."""
    problems: list[tuple[tuple[str, ...], str]] = []
    for source in ("crm", "erp"):
        given: dict[str, ObjectMapping] = getattr(config, source)
        for name, mapping in given.items():
            logical = LOGICAL.get(name)
            if logical is None or logical.source != source:
                known = sorted(k for k, v in LOGICAL.items() if v.source == source)
                problems.append(((source, name), f"unknown {source} object {name!r} ({known})"))
                continue
            for field in mapping.fields:
                if field not in logical.fields:
                    problems.append(
                        ((source, name, "fields", field), f"unknown field {field!r} of {name}")
                    )
            for field in logical.fields:
                if field not in mapping.fields:
                    problems.append(((source, name, "fields"), f"{name}.{field} is not mapped"))
            for field, values in mapping.values.items():
                allowed = picklist_values().get(field) if field in logical.picklists else None
                if allowed is None:
                    problems.append(
                        ((source, name, "values", field), f"{name}.{field} has no value map")
                    )
                    continue
                for org_value, value in values.items():
                    if value not in allowed:
                        problems.append(
                            (
                                (source, name, "values", field, org_value),
                                f"{name}.{field}: {org_value!r} maps to {value!r}, "
                                f"not one of {list(allowed)}",
                            )
                        )
        for name, logical in LOGICAL.items():
            if logical.source == source and name not in given:
                problems.append(((source,), f"{source} object {name!r} is not mapped"))
    return problems


def load_org(path: Path | None = None) -> OrgConfig:
    """The default org, with the file at `path` laid over it; raises OrgConfigError with
    every problem, each naming its line in the file."""
    default = _default_document()
    text, given = "", {}
    if path is not None:
        try:
            text = Path(path).read_text()
            given = yaml.safe_load(text) or {}
        except OSError as exc:
            raise OrgConfigError(path, [f"cannot read it: {exc.strerror}"]) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark else ""
            raise OrgConfigError(path, [f"{line}not YAML: {exc}"]) from None
        if not isinstance(given, Mapping):
            raise OrgConfigError(path, ["line 1: the file must be a mapping (crm:, erp:)"])
        # The same file's `settings:` are connectors.config's (read and checked there).
        given = {key: value for key, value in given.items() if key != "settings"}
    at = _locator(text)

    try:
        config = OrgConfig.model_validate(_lay_over(default, given))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            problems.append(f"{at(loc)}{'.'.join(loc)}: {err['msg']}")
        raise OrgConfigError(path, problems) from None
    semantic = _semantic_problems(config)
    if semantic:
        raise OrgConfigError(path, [f"{at(loc)}{message}" for loc, message in semantic])
    return config


@functools.lru_cache(maxsize=8)
def _cached(path: str | None, stamp: float | None) -> OrgConfig:
    return load_org(Path(path) if path else None)


def org_config(path: Path | None) -> OrgConfig:
    """`load_org(path)`, read again only when the file changes."""
    stamp = Path(path).stat().st_mtime if path and Path(path).exists() else None
    return _cached(str(path) if path else None, stamp)


def default_org() -> OrgConfig:
    return org_config(None)


def dbt_vars_override(config: OrgConfig) -> dict[str, Any]:
    """The `org` dbt var to pass, or nothing for the default org: dbt's own default is the
    default org, and unchanged vars keep dbt's partial parse state valid."""
    if config.dbt_vars() == default_org().dbt_vars():
        return {}
    return config.dbt_vars()
