"""The summary `make demo` prints: where the warehouse is and what the marts hold."""

from __future__ import annotations

import os

import click
import duckdb

from connectors.config import Settings
from reports.serve import PORT as REPORTS_PORT

TOP_PARTNERS = 10


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_top_partners(con: duckdb.DuckDBPyConnection) -> None:
    """Prints the top partners by trailing-12-month sales with their scorecard figures."""
    rows = con.sql(
        "select as_of_month, partner_name, partner_tier, eligible_tier, capability_score, "
        "t12m_sales_volume_usd, t12m_sales_yoy_growth, t12m_win_rate, "
        "t12m_reconciliation_accuracy "
        "from marts.rpt_partner_scorecard "
        "order by t12m_sales_volume_usd desc nulls last, partner_id "
        f"limit {TOP_PARTNERS}"
    ).fetchall()
    if not rows:
        return
    click.echo(
        f"\nTop {len(rows)} partners by trailing-12-month sales "
        f"(scorecard of {rows[0][0]:%Y-%m}, marts.rpt_partner_scorecard):"
    )
    click.echo(
        f"  {'partner':<28} {'tier':<10} {'eligible':<10} {'score':>5} "
        f"{'sales 12m USD':>15} {'YoY':>7} {'win rate':>8} {'recon acc':>9}"
    )
    for _, name, tier, eligible, score, sales, yoy, win_rate, accuracy in rows:
        click.echo(
            f"  {(name or '')[:28]:<28} {tier or '-':<10} {eligible or '-':<10} "
            f"{'-' if score is None else f'{score:.2f}':>5} "
            f"{'-' if sales is None else f'{sales:,.0f}':>15} {_percent(yoy):>7} "
            f"{_percent(win_rate):>8} {_percent(accuracy):>9}"
        )


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
        if ("rpt_partner_scorecard",) in marts:
            _print_top_partners(con)
    finally:
        con.close()
    serving = settings.serving_warehouse_path
    click.echo(
        "\nOpen the Dagster UI: `make dev`, then http://127.0.0.1:3000 "
        "(the stand-in sources start automatically)."
    )
    if serving.exists():  # published only when every blocking check passed
        click.echo(
            f"Published marts for BI tools and queries (README, 'Connecting a BI tool'): "
            f"{serving}\n  duckdb.connect('{serving}', read_only=True)"
            ".sql('from marts.fct_partner_months limit 5')"
        )
    index = settings.reports_path / "index.html"
    if index.exists():  # built after each publication
        pages = len(list((settings.reports_path / "partners").glob("*.html")))
        click.echo(
            f"Scorecard pages (README, 'Scorecard pages'): {index} and {pages} partner pages "
            f"in {settings.reports_path / 'partners'}\n  serve them: .venv/bin/partnerpulse "
            f"reports serve, then http://127.0.0.1:{REPORTS_PORT}/"
        )
