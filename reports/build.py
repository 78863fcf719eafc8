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
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from connectors import publishing
from reports import CONTENT_SECURITY_POLICY, charts, data
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
    pdfs: int
    pdfs_printed: int
    pdf_skipped_reason: str | None
    seconds: float
    marts_publication_id: str

    @property
    def index(self) -> Path:
        return self.link / "index.html"


def render_partner(page: data.PartnerPage, report: data.ReportData) -> str:
    """One partner's page: its own figures, and its tier's benchmarks where allowed."""
    forecast = page.forecast
    charts_svg = {
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
    return _ENV.get_template("partner.html.j2").render(
        page=page,
        publication=report.publication,
        charts=charts_svg,
        min_cohort=report.min_cohort,
    )


def render_index(report: data.ReportData, *, pdfs: bool = False) -> str:
    """The ecosystem page, linking every partner page."""
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
    )


def build_reports(
    serving_path: Path | str,
    reports_dir: Path | str,
    *,
    min_cohort: int = 5,
    chromium: Path | None = None,
    pdf: bool = True,
    keep: int = 3,
) -> ReportsPublication:
    """Renders every page from the published marts at `serving_path` into a new publication
    and switches `reports_dir` to it. Nothing changes for readers when a step fails.

    With `pdf`, each page is also printed to PDF by the Chromium at `chromium` (default: one
    found on PATH); without one, the pages are published without PDFs and the publication
    says why."""
    from reports.browser import find_chromium, print_pdfs

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
    previous = _digests(link)
    digests: dict[str, str] = {}
    to_print: list[tuple[Path, Path]] = []
    rendered = 0
    try:
        index = render_index(report, pdfs=executable is not None)
        (tmp / "index.html").write_text(index, encoding="utf-8")
        pages = []
        for page in report.pages:
            html = tmp / "partners" / f"{page.partner_id}.html"
            pages.append(html)
            digests[page.partner_id] = digest = _page_digest(page, report)
            # Rendering and printing are a build's time: a page whose figures did not
            # change since the previous build is that build's page (and PDF), linked.
            old = link / "partners" / html.name
            old_pdf = old.with_suffix(".pdf")
            if (
                previous.get(page.partner_id) == digest
                and old.exists()
                and (executable is None or old_pdf.exists())
            ):
                _link_or_copy(old.resolve(), html)
                if executable is not None:
                    _link_or_copy(old_pdf.resolve(), html.with_suffix(".pdf"))
                continue
            html.write_text(render_partner(page, report), encoding="utf-8")
            rendered += 1
            if executable is not None:
                to_print.append((html, html.with_suffix(".pdf")))
        if to_print:
            print_pdfs(executable, to_print)
        pdfs = len(pages) if executable is not None else 0
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
                    "pdfs_printed": len(to_print),
                    "pdf_skipped_reason": skipped,
                    "benchmark_min_cohort": min_cohort,
                    "seconds": round(seconds, 2),
                    "page_digests": digests,
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
        pdfs=pdfs,
        pdfs_printed=len(to_print),
        pdf_skipped_reason=skipped,
        seconds=seconds,
        marts_publication_id=report.publication.publication_id,
    )


def _code_digest() -> bytes:
    """The templates' and the renderers' code: a change of either renders every page anew."""
    folder = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted([*folder.glob("*.py"), *(folder / "templates").iterdir()]):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.digest()


_CODE_DIGEST = _code_digest()


# A decimal number in a repr, rounded before digesting: DuckDB sums in parallel, in no fixed
# order, so an average of the same values differs in its 16th digit from run to run, and a
# difference of two equal sums is 0 or ±1e-11 (every page would count as changed). No page
# shows more than a few digits.
_FLOAT = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def _rounded(number: re.Match[str]) -> str:
    return f"{round(float(number.group()), 6) + 0.0:.10g}"  # + 0.0: -0.0 is 0.0


def _page_digest(page: data.PartnerPage, report: data.ReportData) -> str:
    """What the page shows: its partner's figures, the scored month, the benchmark rule and
    the code that renders them."""
    inputs = repr((page, report.publication.scored_month, report.min_cohort))
    inputs = _FLOAT.sub(_rounded, inputs)
    return hashlib.sha256(_CODE_DIGEST + inputs.encode()).hexdigest()


def _digests(link: Path) -> dict[str, str]:
    """The page digests of the build `link` names now ({} without one)."""
    try:
        return json.loads((link / MANIFEST).read_text()).get("page_digests", {})
    except (OSError, ValueError):
        return {}


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or no hard links there
        shutil.copy2(source, target)
