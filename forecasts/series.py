"""The monthly sales series the forecasts are fit on, read from the marts, and how much
history each one has (docs/models.md, "Forecasts").

A partner's series is its `sales_volume_usd` from `fct_partner_months`, month by month,
from the later of the month it joined and the first month the ERP holds any sale for (the
spine reaches back to `Partner_Since__c`, the ERP history may not), to the last complete
month: the month of the run's today is still filling up and is the first month forecast.
Only active partners are forecast. Values are rounded to the cent first, so that the same
facts built by either engine give the same fit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

SEASON = 12  # months
HORIZON = 6  # months forecast, and horizons backtested
MIN_HISTORY = 3  # complete months needed for any forecast
SEASONAL_HISTORY = 2 * SEASON  # complete months before a seasonal model is fit
ETS_HISTORY = 7  # complete months below which ETS cannot fit; a naive forecast is used
INTERMITTENT_ZERO_SHARE = 0.3  # of the last 12 months without sales

# Each series' class decides its method (forecasts.methods).
REGULAR = "regular"
INTERMITTENT = "intermittent"
SHORT = "short"
NEW = "new"
TOO_NEW = "too_new"

ECOSYSTEM_ID = "__ecosystem__"

# The first month the ERP holds any sale for: the series start there at the earliest.
_DATA_START = """
with data_start as (
    select min(month_start) as first_month
    from marts.fct_partner_months
    where sales_volume_usd <> 0
)
"""

_SERIES_SQL = (
    _DATA_START
    + """
select
    facts.partner_id as unique_id,
    facts.month_start as ds,
    round(facts.sales_volume_usd, 2) as y
from marts.fct_partner_months as facts
inner join marts.dim_partners as partners
    on facts.partner_id = partners.partner_id
cross join data_start
where partners.is_active
    and facts.month_start >= data_start.first_month
    and facts.month_start <= ?
order by unique_id, ds
"""
)

_ECOSYSTEM_SQL = (
    _DATA_START
    + """
select
    ? as unique_id,
    facts.month_start as ds,
    round(sum(facts.sales_volume_usd), 2) as y
from marts.fct_partner_months as facts
cross join data_start
where facts.month_start >= data_start.first_month
    and facts.month_start <= ?
group by facts.month_start
order by ds
"""
)

_ACTIVE_SQL = "select partner_id from marts.dim_partners where is_active order by partner_id"


@dataclass(frozen=True)
class Series:
    """What the forecasts are fit on: every active partner's complete months (`frame`:
    unique_id, ds, y), each partner's class, and the ecosystem's total as one more series."""

    origin: date  # the last complete month: forecasts start the month after
    frame: pd.DataFrame
    ecosystem: pd.DataFrame
    classes: dict[str, str]  # partner_id -> REGULAR | INTERMITTENT | SHORT | NEW | TOO_NEW
    history: dict[str, int]  # partner_id -> complete months of history

    def digest(self) -> str:
        """What the forecasts are made from: these series (values in cents), the forecasting
        code and statsforecast's version. Equal digests, equal forecasts: the series end with
        the last complete month, so a day's new invoices leave it unchanged until the month
        closes or a closed month is restated."""
        digest = hashlib.sha256(f"{self.origin}\0{version('statsforecast')}\0".encode())
        for source in sorted(Path(__file__).parent.glob("*.py")):
            digest.update(source.name.encode() + source.read_bytes())
        for frame in (self.frame, self.ecosystem):
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        digest.update(repr((sorted(self.classes.items()), sorted(self.history.items()))).encode())
        return digest.hexdigest()

    def of_class(self, *classes: str) -> pd.DataFrame:
        ids = [pid for pid, cls in self.classes.items() if cls in classes]
        return self.frame[self.frame["unique_id"].isin(ids)]


def origin_month(today: date) -> date:
    """The last complete month on `today`: the month before today's."""
    first = today.replace(day=1)
    return (pd.Timestamp(first) - pd.DateOffset(months=1)).date()


def classify(values: np.ndarray) -> str:
    """The class of one series of complete months, oldest first."""
    months = len(values)
    if months < MIN_HISTORY:
        return TOO_NEW
    if months < ETS_HISTORY:
        return NEW
    if months < SEASONAL_HISTORY:
        return SHORT
    if np.mean(values[-SEASON:] == 0) >= INTERMITTENT_ZERO_SHARE:
        return INTERMITTENT
    return REGULAR


def read_series(con: duckdb.DuckDBPyConnection, today: date) -> Series:
    """The series of every active partner, and the ecosystem's, up to the last complete
    month before `today`."""
    origin = origin_month(today)
    frame = con.execute(_SERIES_SQL, [origin]).df()
    ecosystem = con.execute(_ECOSYSTEM_SQL, [ECOSYSTEM_ID, origin]).df()
    active = [row[0] for row in con.execute(_ACTIVE_SQL).fetchall()]
    for df in (frame, ecosystem):
        df["ds"] = pd.to_datetime(df["ds"])
        df["y"] = df["y"].astype("float64")
    values = {pid: group["y"].to_numpy() for pid, group in frame.groupby("unique_id")}
    empty = np.array([], dtype="float64")
    history = {pid: len(values.get(pid, empty)) for pid in active}
    classes = {pid: classify(values.get(pid, empty)) for pid in active}
    return Series(origin, frame, ecosystem, classes, history)
