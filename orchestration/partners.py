"""Partners as operators read them: by name beside their id, wherever a check, a finding,
an alert or a log line names one (the label itself is `reports.formatting.partner_label`)."""

import duckdb


def partner_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Partner names by id, from `marts.dim_partners`; {} before the marts are first built
    (the checks on landed data run before dbt on a first run)."""
    exists = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = 'marts' and table_name = 'dim_partners'"
    ).fetchone()[0]
    if not exists:
        return {}
    return dict(con.execute("select partner_id, partner_name from marts.dim_partners").fetchall())
