"""Reading the published pages in tests: sections, tables and tiles as the reader sees them."""

from __future__ import annotations

from pathlib import Path

import duckdb
from bs4 import BeautifulSoup


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _text(node) -> str:
    return " ".join(node.get_text(" ", strip=True).split())


def table(page: BeautifulSoup, section: str, index: int = 0) -> list[dict[str, str]]:
    """The `index`-th table of `<section id=section>` as rows keyed by column heading (a
    repeated heading gets its position appended: "Target", "Target 5")."""
    node = page.find("section", id=section).find_all("table")[index]
    headings = []
    for i, th in enumerate(node.find("thead").find_all("th")):
        name = _text(th)
        headings.append(f"{name} {i}" if name in headings else name)
    return [
        dict(zip(headings, (_text(td) for td in tr.find_all("td")), strict=False))
        for tr in node.find("tbody").find_all("tr")
    ]


def row(page: BeautifulSoup, section: str, first_cell: str, index: int = 0) -> dict[str, str]:
    """The row of that table whose first cell reads `first_cell`."""
    (found,) = [r for r in table(page, section, index) if next(iter(r.values())) == first_cell]
    return found


def facts(page: BeautifulSoup, section: str) -> dict[str, str]:
    """A table of headed rows (`<tr><th>name</th><td>value</td></tr>`) as {name: value}."""
    node = page.find("section", id=section)
    return {_text(tr.find("th")): _text(tr.find("td")) for tr in node.find_all("tr")}


def tiles(page: BeautifulSoup, section: str | None = None) -> dict[str, str]:
    """Tiles by their name: {"claims denied": "3", ...} (section None: the page's top)."""
    scope = page.find("section", id=section) if section else page.find("div", class_="tiles")
    return {
        _text(t.find(class_="name")): _text(t.find(class_="value"))
        for t in scope.find_all("div", class_="tile")
    }


def mart(serving: Path, sql: str, params: list | None = None) -> list[dict]:
    """Rows of the published marts, read-only, as dicts."""
    con = duckdb.connect(str(serving), read_only=True)
    try:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()
