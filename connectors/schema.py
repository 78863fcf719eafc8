"""The raw layer's tables: names, typed columns, primary keys and watermark columns.

This is the one description of the raw schemas. `warehouse.py` creates the tables from it,
`landing.py` merges into them, and the connectors type their rows to it.
`docs/warehouse.md` explains the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.config import Settings
from connectors.org import LOGICAL, SYSTEM_FIELDS, OrgConfig, default_org

LINEAGE_COLUMNS: dict[str, str] = {"_sync_id": "VARCHAR", "_loaded_at": "TIMESTAMP"}


@dataclass(frozen=True)
class RawTable:
    """A raw table: `schema.name`, its typed columns, primary key and watermark column."""

    schema: str
    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    watermark: str | None = None
    # Where a CRM or ERP table's rows come from: the source's object or record (default:
    # the table's name) and the org's filter on it (connectors.org).
    source_object: str | None = None
    source_filter: str | None = None

    @property
    def read_from(self) -> str:
        return self.source_object or self.name

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def ddl(self) -> str:
        cols = {**self.columns, **LINEAGE_COLUMNS}
        body = ",\n    ".join(f'"{c}" {t}' for c, t in cols.items())
        return f"CREATE TABLE IF NOT EXISTS {self.qualified_name} (\n    {body}\n)"

    def add_columns_ddl(self, existing: set[str]) -> list[str]:
        """Adds the columns a table made under an earlier mapping lacks (`existing`: the
        columns it has), e.g. a field mapped since; columns no longer mapped stay, with
        their history."""
        return [
            f'ALTER TABLE {self.qualified_name} ADD COLUMN "{c}" {t}'
            for c, t in self.columns.items()
            if c not in existing
        ]


def _t(
    schema: str, name: str, pk: tuple[str, ...], watermark: str | None, columns: str
) -> RawTable:
    parsed: dict[str, str] = {}
    for part in columns.split(","):
        col, _, typ = part.strip().partition(" ")
        parsed[col] = typ.strip() or "VARCHAR"
    return RawTable(schema, name, parsed, pk, watermark)


@dataclass(frozen=True)
class SourceColumn:
    """One raw column of a CRM or ERP table: the source's field, and the logical field it
    holds (None for the source's own keys, watermark and deletion flag)."""

    source_field: str
    logical: str | None
    duck_type: str


def source_columns(logical: str, config: OrgConfig) -> dict[str, SourceColumn]:
    """The raw columns of a logical object under `config`, in the raw table's order: the
    source's field names, lower-cased, typed as the logical fields they hold."""
    spec = LOGICAL[logical]
    mapping = config.mapping(logical)
    system = {
        name.lower(): SourceColumn(name, None, duck_type)
        for name, duck_type in SYSTEM_FIELDS[spec.source].items()
        if name.lower() not in spec.no_system
    }
    columns = {c: SourceColumn(c, None, t) for c, t in spec.key_prefix.items()}
    columns["id"] = system.pop("id")
    for field, duck_type in spec.fields.items():
        columns[mapping.column(field)] = SourceColumn(mapping.fields[field], field, duck_type)
    return {**columns, **system}


def object_table(logical: str, config: OrgConfig) -> RawTable:
    """The raw table of a logical CRM or ERP object under `config` (`source_columns`)."""
    spec = LOGICAL[logical]
    mapping = config.mapping(logical)
    return RawTable(
        f"raw_{spec.source}",
        spec.table,
        {c: col.duck_type for c, col in source_columns(logical, config).items()},
        spec.primary_key,
        spec.watermark,
        source_object=mapping.object,
        source_filter=mapping.filter,
    )


def source_tables(source: str, config: OrgConfig) -> dict[str, RawTable]:
    """The raw tables of one source (`crm` or `erp`) under `config`, by table name."""
    return {
        spec.table: object_table(name, config)
        for name, spec in LOGICAL.items()
        if spec.source == source
    }


# The default org's tables (the stand-in sources' contract).
CRM_TABLES: dict[str, RawTable] = source_tables("crm", default_org())
ERP_TABLES: dict[str, RawTable] = source_tables("erp", default_org())

PORTAL_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in [
        _t(
            "raw_portal",
            "sales_reports",
            ("id",),
            "updated_at",
            """
            id, partner_id, period, revision INTEGER, status, currency,
            submitted_at TIMESTAMP, updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "sales_report_lines",
            ("report_id", "line_no"),
            None,
            """
            report_id, line_no INTEGER, sku, quantity DOUBLE, amount DOUBLE, end_customer,
            invoice_ref, sold_on DATE""",
        ),
        _t(
            "raw_portal",
            "trainings",
            ("id",),
            "updated_at",
            """
            id, partner_id, learner_id, course_id, course_name, is_certification BOOLEAN,
            enrolled_on DATE, due_on DATE, completed_on DATE, passed BOOLEAN,
            expires_on DATE, updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "mdf_claims",
            ("id",),
            "updated_at",
            """
            id, partner_id, campaign_id, requested_amount DOUBLE, approved_amount DOUBLE,
            currency, status, submitted_on DATE, decided_on DATE, denial_reason,
            updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "asset_usage",
            ("id",),
            "updated_at",
            """
            id, partner_id, asset_id, asset_type, action, occurred_at TIMESTAMP,
            updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "business_plans",
            ("id",),
            "updated_at",
            """
            id, partner_id, period, revenue_target DOUBLE, deal_reg_target DOUBLE,
            mdf_target DOUBLE, certifications_target DOUBLE, currency, updated_at TIMESTAMP""",
        ),
        _t(
            "raw_portal",
            "pos_files",
            ("file_name",),
            None,
            """
            file_name, partner_id, period, revision INTEGER, status, rows_read INTEGER,
            rows_loaded INTEGER, rows_quarantined INTEGER, content_sha256,
            file_modified_at TIMESTAMP, reason""",
        ),
        _t(
            "raw_portal",
            "pos_report_lines",
            ("file_name", "row_number"),
            None,
            """
            file_name, row_number INTEGER, partner_id, period, revision INTEGER, sku,
            quantity DOUBLE, amount DOUBLE, currency, end_customer, invoice_ref, sold_on DATE""",
        ),
        _t(
            "raw_portal",
            "pos_quarantine",
            ("file_name", "row_number"),
            None,
            """
            file_name, row_number INTEGER, raw_row, reason""",
        ),
    ]
}

OPS_DDL = [
    "CREATE SCHEMA IF NOT EXISTS ops",
    """CREATE TABLE IF NOT EXISTS ops.sync_runs (
        sync_id VARCHAR PRIMARY KEY, source VARCHAR, object VARCHAR, status VARCHAR,
        started_at TIMESTAMP, finished_at TIMESTAMP, duration_s DOUBLE,
        rows_read BIGINT, rows_merged BIGINT, rows_quarantined BIGINT,
        watermark_before TIMESTAMP, watermark_after TIMESTAMP, error VARCHAR,
        watermark_clamped_from TIMESTAMP)""",
    # Warehouses created before the column existed get it last too (a no-op once it does).
    "ALTER TABLE ops.sync_runs ADD COLUMN IF NOT EXISTS watermark_clamped_from TIMESTAMP",
    """CREATE TABLE IF NOT EXISTS ops.watermarks (
        source VARCHAR, object VARCHAR, watermark TIMESTAMP, sync_id VARCHAR,
        updated_at TIMESTAMP, PRIMARY KEY (source, object))""",
    # Great Expectations results, written by the asset checks (orchestration/checks/gx.py):
    # per run and expectation one summary row (partner_id and month_start NULL), plus one
    # row per failing partner-month (detail: JSON text with the row's amounts and reasons).
    """CREATE TABLE IF NOT EXISTS ops.validation_results (
        run_id VARCHAR NOT NULL, validated_at TIMESTAMP NOT NULL, checkpoint VARCHAR NOT NULL,
        suite VARCHAR, asset_key VARCHAR, check_name VARCHAR, expectation VARCHAR,
        expectation_type VARCHAR, column_name VARCHAR, finding VARCHAR, severity VARCHAR,
        success BOOLEAN, partner_id VARCHAR, month_start DATE, element_count BIGINT,
        unexpected_count BIGINT, detail VARCHAR)""",
    # Complete builds of the marts (models, checks, publication) and the fingerprint of the
    # inputs each was made from (connectors/builds.py).
    """CREATE TABLE IF NOT EXISTS ops.complete_builds (
        run_id VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL, finished_at TIMESTAMP)""",
    # What the fingerprint digests, by name (JSON), so that a run can say what changed.
    "ALTER TABLE ops.complete_builds ADD COLUMN IF NOT EXISTS inputs VARCHAR",
    # The dbt tests that passed when they last ran, and the models built, with the digest of
    # the inputs they passed on or were built from (orchestration/same_inputs.py).
    """CREATE TABLE IF NOT EXISTS ops.passed_tests (
        test_id VARCHAR PRIMARY KEY, inputs VARCHAR NOT NULL, run_id VARCHAR,
        passed_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS ops.built_models (
        model_id VARCHAR PRIMARY KEY, inputs VARCHAR NOT NULL, run_id VARCHAR,
        built_at TIMESTAMP)""",
    # What the marts computed outside dbt (the forecasts) were last made from: a digest of
    # their inputs, written in the transaction that writes them (connectors/model_outputs.py).
    """CREATE TABLE IF NOT EXISTS ops.model_outputs (
        tables VARCHAR PRIMARY KEY, made_from VARCHAR NOT NULL, written_at TIMESTAMP)""",
    # The Parquet version of each raw table that Spark reads (connectors/spark_raw.py).
    """CREATE TABLE IF NOT EXISTS ops.spark_raw_versions (
        table_name VARCHAR PRIMARY KEY, location VARCHAR NOT NULL, content VARCHAR NOT NULL,
        exported_at TIMESTAMP)""",
]

ALL_TABLES: dict[str, RawTable] = {
    t.qualified_name: t for group in (CRM_TABLES, ERP_TABLES, PORTAL_TABLES) for t in group.values()
}


def org_tables(config: OrgConfig) -> dict[str, RawTable]:
    """Every raw table under `config`, by `schema.name`."""
    groups = (source_tables("crm", config), source_tables("erp", config), PORTAL_TABLES)
    return {t.qualified_name: t for group in groups for t in group.values()}


def create_all_ddl(config: OrgConfig | None = None) -> list[str]:
    """Every statement that creates the raw and ops schemas and tables, idempotently, for
    `config` (default: the org `PARTNERPULSE_CONFIG` describes)."""
    tables = org_tables(config or Settings.from_env().org)
    schemas = sorted({t.schema for t in tables.values()})
    return (
        [f"CREATE SCHEMA IF NOT EXISTS {s}" for s in schemas]
        + [t.ddl() for t in tables.values()]
        + OPS_DDL
    )
