"""Builds the scorecard pages from the published marts and publishes them atomically.

`<reports_dir>` is a symlink to the newest publication in `<reports_dir>-publications/`:
`index.html` (the channel team's view of the ecosystem) and `partners/<partner_id>.html`
(with `.pdf` beside it when a Chromium is found), switched like the Parquet marts
(connectors.publishing).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2

from connectors import publishing
from reports import CONTENT_SECURITY_POLICY, charts, data, shown
from reports.formatting import FILTERS

log = logging.getLogger(__name__)

MANIFEST = "_reports.json"

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("reports", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(FILTERS)
_ENV.globals["content_security_policy"] = CONTENT_SECURITY_POLICY


class ReportsDirError(Exception):
    """The reports folder is not one this pipeline manages."""


@dataclass(frozen=True)
class ReportsPublication:
    """One build of the pages: where they are and what it cost."""

    publication_id: str
    path: Path  # the publication folder the reports link now names
    link: Path
    partner_pages: int
    pages_rendered: int  # the others are the previous build's, their figures unchanged
    charts_rendered: int  # the others were taken from the chart cache (charts.SvgCache)
    pdfs: int
    pdfs_printed: int
    pdfs_older: int  # kept although their page changed since: younger than the maximum age
    pdf_skipped_reason: str | None
    seconds: float
    marts_publication_id: str

    @property
    def index(self) -> Path:
        return self.link / "index.html"


def render_partner(
    page: data.PartnerPage,
    report: data.ReportData,
    charts: dict[str, str | None] | None = None,
) -> str:
    """One partner's page: its own figures, and its tier's benchmarks where allowed (with
    `charts`, those drawn or planned beforehand)."""
    return _ENV.get_template("partner.html.j2").render(
        page=page,
        publication=report.publication,
        charts=partner_charts(page) if charts is None else charts,
        min_cohort=report.min_cohort,
    )


def partner_charts(page: data.PartnerPage) -> dict[str, str | None]:
    """A partner page's charts as SVG, by name (None: no data to draw)."""
    forecast = page.forecast
    return {
        "sales": charts.monthly_sales(page.months) if page.months else None,
        "forecast": (
            charts.partner_forecast(page.months, forecast.months)
            if forecast and forecast.months
            else None
        ),
        "plan": charts.plan_against_target(page.quarters) if page.quarters else None,
        "reconciliation": (
            charts.reported_against_invoiced(page.reconciliation) if page.reconciliation else None
        ),
    }


def render_index(
    report: data.ReportData, *, pdfs: bool = False, older_pdfs: dict[str, date] | None = None
) -> str:
    """The ecosystem page, linking every partner page (and PDF: `older_pdfs` are the ones
    printed from earlier figures than the page's, by the day they were printed)."""
    eco = report.ecosystem
    charts_svg = {
        "partners": charts.partners_by_month(eco.months) if eco.months else None,
        "regions": charts.sales_by_region(eco.regions) if eco.regions else None,
        "forecast": (
            charts.ecosystem_forecast(eco.months, eco.sales_forecast.months)
            if eco.sales_forecast and eco.sales_forecast.months
            else None
        ),
        "shares": charts.partner_led_share(eco.months) if eco.months else None,
        "concentration": charts.concentration(eco.months) if eco.months else None,
        "reconciliation": (
            charts.reconciliation_counts(eco.reconciliation_counts)
            if eco.reconciliation_counts
            else None
        ),
    }
    return _ENV.get_template("index.html.j2").render(
        eco=eco,
        publication=report.publication,
        charts=charts_svg,
        statuses=charts.RECONCILIATION_STATUSES,
        pdfs=pdfs,
        older_pdfs=older_pdfs or {},
    )


def build_reports(
    serving_path: Path | str,
    reports_dir: Path | str,
    *,
    min_cohort: int = 5,
    chromium: Path | None = None,
    pdf: bool = True,
    pdf_max_age_days: int = 0,
    today: date | None = None,
    keep: int = 3,
) -> ReportsPublication:
    """Renders every page from the published marts at `serving_path` into a new publication
    and switches `reports_dir` to it. Nothing changes for readers when a step fails.

    With `pdf`, each page is also printed to PDF by the Chromium at `chromium` (default: one
    found on PATH); without one, the pages are published without PDFs and the publication
    says why. A changed page keeps the PDF it has while that PDF is younger than
    `pdf_max_age_days` (counted to `today`, default the UTC date) and of the same scored
    month: the index gives such a PDF's date."""
    from reports.browser import find_chromium, pdf_printer

    started = time.monotonic()
    link = Path(reports_dir)
    if link.exists() and not link.is_symlink():
        if link.is_dir() and not any(link.iterdir()):
            link.rmdir()  # an empty folder made beforehand becomes the link
        else:
            raise ReportsDirError(
                f"{link} exists and is not the link this pipeline publishes the pages through: "
                "move it away or point PARTNERPULSE_REPORTS_DIR elsewhere"
            )
    publications = link.with_name(f"{link.name}-publications")
    publications.mkdir(parents=True, exist_ok=True)
    publishing.remove_stale(publications, link)

    report = data.load(serving_path, min_cohort=min_cohort)
    publication_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    tmp = publications / f".{publication_id}.tmp"
    (tmp / "partners").mkdir(parents=True)
    executable = find_chromium(chromium) if pdf else None
    if not pdf:
        skipped = "PDFs not asked for"
    elif executable is None:
        skipped = (
            "no Chromium found (PARTNERPULSE_CHROMIUM, or chromium on PATH); "
            "the pages print to PDF from any browser"
        )
    else:
        skipped = None
    today = today or datetime.now(UTC).date()
    previous = _manifest(link)
    old_digests: dict[str, str] = previous.get("page_digests", {})
    old_prints: dict[str, dict[str, str]] = previous.get("pdf_prints", {})
    old_charts: dict[str, list[str]] = previous.get("page_charts", {})
    # A page whose figures did not change since the previous build is that build's page.
    digests = {page.partner_id: _page_digest(page, report) for page in report.pages}
    unchanged = {
        pid
        for pid, digest in digests.items()
        if old_digests.get(pid) == digest and (link / "partners" / f"{pid}.html").exists()
    }
    # A page's PDF printed before stays while it is current (`_pdf_still_current`).
    kept_pdfs = {
        pid
        for pid, digest in digests.items()
        if executable is not None
        and pid in old_prints
        and (link / "partners" / f"{pid}.pdf").exists()
        and _pdf_still_current(old_prints[pid], digest, report, today, pdf_max_age_days)
    }
    prints_pdfs = executable is not None and len(kept_pdfs) < len(digests)
    page_charts: dict[str, list[str]] = {}
    prints: dict[str, dict[str, str]] = {}
    printed = 0
    rendered = 0
    try:
        printer = pdf_printer(executable, printed_on=today) if executable else nullcontext(None)
        with charts.cached_in(publications / ".charts") as chart_cache, printer as print_pdf:
            planned: dict[str, dict[str, str | None]] = {}
            if not prints_pdfs:
                # The charts the changed pages lack are drawn on every core (reports.draw)
                # while the pages are rendered around them, then filled in. Not when PDFs
                # are printed: printing is then the build's bound, and it starts with the
                # first page rendered.
                with chart_cache.planning():
                    for page in report.pages:
                        if page.partner_id not in unchanged:
                            with chart_cache.recording() as keys:
                                planned[page.partner_id] = partner_charts(page)
                            page_charts[page.partner_id] = keys
            pages = []
            to_fill: list[tuple[Path, str]] = []
            for page in report.pages:
                pid = page.partner_id
                html = tmp / "partners" / f"{pid}.html"
                pages.append(html)
                digest = digests[pid]
                # Rendering and printing are a build's time: an unchanged page is linked.
                old = link / "partners" / html.name
                if pid in unchanged:
                    _link_or_copy(old.resolve(), html)
                    # Its charts stay cached for the day its figures change again.
                    page_charts[pid] = old_charts.get(pid, [])
                    chart_cache.keep(page_charts[pid])
                elif pid in planned:
                    to_fill.append((html, render_partner(page, report, planned[pid])))
                    rendered += 1
                else:
                    with chart_cache.recording() as keys:
                        html.write_text(render_partner(page, report), encoding="utf-8")
                    page_charts[pid] = keys
                    rendered += 1
                if print_pdf is None:
                    continue
                if pid in kept_pdfs:
                    _link_or_copy(old.with_suffix(".pdf").resolve(), html.with_suffix(".pdf"))
                    prints[pid] = old_prints[pid]
                else:
                    # Printed while the next pages render (reports.browser.pdf_printer).
                    print_pdf(html, html.with_suffix(".pdf"))
                    printed += 1
                    prints[pid] = {
                        "digest": digest,
                        "printed_on": today.isoformat(),
                        "scored_month": report.publication.scored_month.isoformat(),
                    }
            for html, text in to_fill:
                html.write_text(chart_cache.fill(text), encoding="utf-8")
            pdfs = len(pages) if executable is not None else 0
            older_pdfs = {
                pid: date.fromisoformat(p["printed_on"])
                for pid, p in prints.items()
                if p["digest"] != digests[pid]
            }
            index = render_index(report, pdfs=executable is not None, older_pdfs=older_pdfs)
            (tmp / "index.html").write_text(index, encoding="utf-8")
            chart_cache.prune()
        seconds = time.monotonic() - started
        (tmp / MANIFEST).write_text(
            json.dumps(
                {
                    "publication_id": publication_id,
                    "marts_publication_id": report.publication.publication_id,
                    "run_id": report.publication.run_id,
                    "scored_month": report.publication.scored_month.isoformat(),
                    "partner_pages": len(pages),
                    "pdfs": pdfs,
                    "pages_rendered": rendered,
                    "charts_rendered": chart_cache.rendered,
                    "pdfs_printed": printed,
                    "pdfs_older": len(older_pdfs),
                    "pdf_skipped_reason": skipped,
                    "benchmark_min_cohort": min_cohort,
                    "seconds": round(seconds, 2),
                    "page_digests": digests,
                    "page_charts": page_charts,
                    "pdf_prints": prints,
                },
                indent=2,
            )
        )
        publishing.seal(tmp)
        final = publications / publication_id
        tmp.rename(final)
    except BaseException:
        publishing.remove_publication(tmp)
        raise
    publishing.switch_link(link, final)
    publishing.prune(publications, keep, publication_id)
    log.info("built %d partner pages and the index in %.1f s: %s", len(pages), seconds, final)
    return ReportsPublication(
        publication_id=publication_id,
        path=final,
        link=link,
        partner_pages=len(pages),
        pages_rendered=rendered,
        charts_rendered=chart_cache.rendered,
        pdfs=pdfs,
        pdfs_printed=printed,
        pdfs_older=len(older_pdfs),
        pdf_skipped_reason=skipped,
        seconds=seconds,
        marts_publication_id=report.publication.publication_id,
    )


def _code_digest() -> str:
    """The templates' and the renderers' code: a change of either renders every page anew."""
    folder = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted([*folder.glob("*.py"), *(folder / "templates").iterdir()]):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


_CODE_DIGEST = _code_digest()


def _page_digest(page: data.PartnerPage, report: data.ReportData) -> str:
    """What the page shows: its partner's figures, the scored month, the benchmark rule and
    the code that renders them."""
    return shown.digest(_CODE_DIGEST, page, report.publication.scored_month, report.min_cohort)


def _manifest(link: Path) -> dict:
    """The manifest of the build `link` names now ({} without one)."""
    try:
        return json.loads((link / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _pdf_still_current(
    printed: dict[str, str],
    digest: str,
    report: data.ReportData,
    today: date,
    max_age_days: int,
) -> bool:
    """Whether a page's PDF printed before stays: its figures are the page's, or it is of
    the same scored month and younger than `max_age_days`. Printing is most of a build's
    time, and a day's invoices change most pages (the current quarter, the tier averages),
    so a daily run would otherwise print every PDF again; a closed month prints them all."""
    if printed.get("digest") == digest:
        return True
    age = today - date.fromisoformat(printed["printed_on"])
    same_month = printed.get("scored_month") == report.publication.scored_month.isoformat()
    return same_month and age.days < max_age_days


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or no hard links there
        shutil.copy2(source, target)
