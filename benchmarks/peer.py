"""The peer: dlt's `rest_api` source reading the CRM and portal endpoints into DuckDB.

Configured as a user would: one REST resource per object with its paginator (Salesforce
`nextRecordsUrl`, the portal's `next_cursor`), OAuth client credentials for the CRM and
the API key for the portal, `parallelized` resources (dlt's own concurrency) when
`parallel` is set, default file format and normalizer settings, DuckDB destination.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

CRM_OBJECTS = ("accounts", "opportunities", "leads", "deal_registrations", "campaigns")
PORTAL_OBJECTS = ("sales_reports", "trainings", "mdf_claims", "asset_usage", "business_plans")


def _crm_source(env: dict[str, str], objects: list[str], parallel: bool):
    from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
    from dlt.sources.rest_api import rest_api_source

    from connectors import salesforce
    from connectors.sync import get_object

    base = env["PARTNERPULSE_CRM_URL"]
    resources = []
    for name in objects:
        table = get_object("crm", name).raw_tables[0].split(".", 1)[1]
        obj = salesforce.OBJECTS[table]
        soql = salesforce.build_soql(obj, None)
        resources.append(
            {
                "name": name,
                "parallelized": parallel,
                "endpoint": {
                    "path": "services/data/v61.0/queryAll",
                    "params": {"q": soql},
                    "data_selector": "records",
                    "paginator": {"type": "json_link", "next_url_path": "nextRecordsUrl"},
                },
            }
        )
    auth = OAuth2ClientCredentials(
        access_token_url=f"{base}/services/oauth2/token",
        client_id=env["PARTNERPULSE_CRM_CLIENT_ID"],
        client_secret=env["PARTNERPULSE_CRM_CLIENT_SECRET"],
    )
    return rest_api_source(
        {
            "client": {
                "base_url": base + "/",
                "auth": auth,
                "headers": {"Sforce-Query-Options": "batchSize=2000"},
            },
            "resources": resources,
        },
        name="crm",
    )


def _portal_source(env: dict[str, str], objects: list[str], parallel: bool):
    from dlt.sources.rest_api import rest_api_source

    from connectors import partner_portal

    resources = [
        {
            "name": name,
            "parallelized": parallel,
            "endpoint": {
                "path": f"api/v2/{partner_portal.RESOURCES[name].path}",
                "params": {"limit": 500},
                "data_selector": "data",
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_cursor",
                    "cursor_param": "starting_after",
                },
            },
        }
        for name in objects
    ]
    return rest_api_source(
        {
            "client": {
                "base_url": env["PARTNERPULSE_PORTAL_URL"] + "/",
                "auth": {
                    "type": "api_key",
                    "name": "X-API-Key",
                    "api_key": env["PARTNERPULSE_PORTAL_API_KEY"],
                    "location": "header",
                },
            },
            "resources": resources,
        },
        name="portal",
    )


def run_dlt(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one dlt pipeline per source into `spec["warehouse"]`; rows and timings."""
    work = Path(spec["workdir"])
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DLT_DATA_DIR", str(work / "dlt_data"))
    import dlt
    import duckdb

    env = dict(os.environ)
    parallel = bool(spec.get("parallel", True))
    file_format = spec.get("file_format") or None
    wanted: dict[str, list[str]] = {}
    for source, name in spec["objects"]:
        wanted.setdefault(source, []).append(name)
    from benchmarks.stages import cpu_seconds

    started = time.perf_counter()
    cpu0 = cpu_seconds()
    steps: dict[str, dict[str, float]] = {}
    for source, names in wanted.items():
        make = {"crm": _crm_source, "portal": _portal_source}[source]
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{source}",
            pipelines_dir=str(work / "pipelines"),
            destination=dlt.destinations.duckdb(spec["warehouse"]),
            dataset_name=f"dlt_{source}",
        )
        t0 = time.perf_counter()
        pipeline.extract(make(env, names, parallel), loader_file_format=file_format)
        t1 = time.perf_counter()
        pipeline.normalize()
        t2 = time.perf_counter()
        pipeline.load()
        t3 = time.perf_counter()
        steps[source] = {"extract_s": t1 - t0, "normalize_s": t2 - t1, "load_s": t3 - t2}
    seconds = time.perf_counter() - started
    cpu_s = cpu_seconds() - cpu0
    con = duckdb.connect(spec["warehouse"], read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE 'dlt_%' AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\'"
        ).fetchall()
        counts = {
            f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0]
            for s, t in tables
        }
    finally:
        con.close()
    # Rows as our connectors count them: records plus sales-report lines (dlt's child
    # table); other child tables dlt makes from nested fields are not extra rows.
    rows = sum(
        n
        for t, n in counts.items()
        if "__" not in t.split(".", 1)[1] or t.endswith("sales_reports__lines")
    )
    return {"seconds": seconds, "cpu_s": cpu_s, "rows": rows, "tables": counts, "steps": steps}
