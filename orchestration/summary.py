"""The summary `make demo` prints: where the warehouse is and what the marts hold."""

from __future__ import annotations

import os

import click
import duckdb

from connectors.config import Settings


def print_summary() -> None:
    """Prints the warehouse path, row counts of every mart and reconciliation statuses."""
    settings = Settings.from_env(os.environ)
    path = settings.warehouse
    if not path.exists():
        click.echo(f"No warehouse at {path}: the run did not get far enough to create it.")
        return
    con = duckdb.connect(str(path), read_only=True)
    try:
        click.echo(f"\nWarehouse: {path}")
        marts = con.sql(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' order by table_name"
        ).fetchall()
        click.echo("\nMarts (schema marts):")
        for (name,) in marts:
            (rows,) = con.sql(f"select count(*) from marts.{name}").fetchall()[0]
            click.echo(f"  {name:<40} {rows:>10,} rows")
        if ("rpt_partner_reconciliation",) in marts:
            click.echo("\nReconciliation status (partner-months):")
            for status, n in con.sql(
                "select status, count(*) from marts.rpt_partner_reconciliation "
                "group by status order by count(*) desc"
            ).fetchall():
                click.echo(f"  {status:<20} {n:>8,}")
    finally:
        con.close()
    click.echo(
        "\nOpen the Dagster UI: `make dev`, then http://127.0.0.1:3000 "
        "(the stand-in sources start automatically)."
        f"\nQuery the marts read-only: duckdb.connect('{path}', read_only=True)"
        ".sql('from marts.fct_partner_months limit 5')"
    )
