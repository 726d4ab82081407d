"""Dominick's orange-juice scanner panel (bayesm ``orangeJuice``) and Taddy's ``oj.csv``, as demand tables.

``read_dominicks_oj`` keeps the three brands of the classic price-elasticity examples (tropicana = brand 1,
minute.maid = 5, dominicks = 10) in long form, one row per store × brand × week: the own price is the brand's
per-ounce ``price<b>`` column and ``log_price`` its logarithm. ``log_price_<brand>`` holds every kept brand's log
price (the row's own brand included), ``log_price_others`` the mean log price of the other kept brands (a
cross-price control that excludes the own price). Store demographics (``storedemo``: INCOME is the log median
household income) are joined on the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

OJ_BRANDS: dict[str, int] = {"tropicana": 1, "minute.maid": 5, "dominicks": 10}
STORE_DEMOGRAPHICS = (
    "AGE60",
    "EDUC",
    "ETHNIC",
    "INCOME",
    "HHLARGE",
    "WORKWOM",
    "HVAL150",
    "SSTRDIST",
    "SSTRVOL",
    "CPDIST5",
    "CPWVOL5",
)
YX_FILE = "orangeJuice_yx.csv.gz"
STOREDEMO_FILE = "orangeJuice_storedemo.csv"


def _need(frame: pd.DataFrame, columns: list[str], source: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{source} lacks the columns {missing}")


def read_dominicks_oj(data_dir: Path, brands: Mapping[str, int] = OJ_BRANDS) -> pd.DataFrame:
    """One row per store × brand × week: ``logmove``, own and cross log prices, deal, feat and demographics.

    ``brands`` maps brand names to bayesm brand numbers (1-11); cross-price columns are ``log_price_<name>``.
    """
    data_dir = Path(data_dir)
    yx_path, demo_path = data_dir / YX_FILE, data_dir / STOREDEMO_FILE
    for path in (yx_path, demo_path):
        if not path.exists():
            raise FileNotFoundError(f"Dominick's OJ file not found: {path}")
    yx = pd.read_csv(yx_path)
    demo = pd.read_csv(demo_path)
    price_cols = {name: f"price{b}" for name, b in brands.items()}
    _need(yx, ["store", "brand", "week", "logmove", "deal", "feat", *price_cols.values()], yx_path)
    _need(demo, ["STORE", *STORE_DEMOGRAPHICS], demo_path)
    keep = yx[yx["brand"].isin(list(brands.values()))].copy()
    names = {b: name for name, b in brands.items()}
    keep["brand"] = keep["brand"].map(names).astype("str")
    own = np.select([keep["brand"] == name for name in brands], [keep[col] for col in price_cols.values()])
    out = pd.DataFrame(
        {
            "store": keep["store"].astype(np.int64),
            "brand": keep["brand"],
            "week": keep["week"].astype(np.int64),
            "logmove": keep["logmove"].astype(np.float64),
            "price": own.astype(np.float64),
            "log_price": np.log(own.astype(np.float64)),
            "deal": keep["deal"].astype(np.int64),
            "feat": keep["feat"].astype(np.float64),
        }
    )
    cross = pd.DataFrame({name: np.log(keep[col].to_numpy(dtype=np.float64)) for name, col in price_cols.items()})
    for name in brands:
        out[f"log_price_{name}"] = cross[name].to_numpy()
    is_own = np.column_stack([out["brand"].to_numpy() == name for name in brands])
    out["log_price_others"] = np.where(is_own, np.nan, cross.to_numpy()).mean(axis=1, where=~is_own)
    demo = demo.rename(columns={"STORE": "store"})[["store", *STORE_DEMOGRAPHICS]]
    out = out.merge(demo, on="store", how="left", validate="many_to_one")
    lost = out["INCOME"].isna()
    if lost.any():
        raise ValueError(f"stores without demographics in {demo_path}: {sorted(out.loc[lost, 'store'].unique())[:5]}")
    return out.sort_values(["store", "brand", "week"], ignore_index=True)


def read_oj_bds(path: Path) -> pd.DataFrame:
    """Taddy's ``oj.csv`` (sales, price, brand, feat) with ``log_sales`` and ``log_price`` added."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"oj.csv not found: {path}")
    frame = pd.read_csv(path)
    _need(frame, ["sales", "price", "brand", "feat"], path)
    bad = (frame["sales"] <= 0) | (frame["price"] <= 0)
    if bad.any():
        raise ValueError(f"{path}: sales and price must be positive, e.g. rows {frame.index[bad][:5].tolist()}")
    return frame.assign(
        brand=frame["brand"].astype("str"),
        feat=frame["feat"].astype(np.int64),
        log_sales=np.log(frame["sales"].astype(np.float64)),
        log_price=np.log(frame["price"].astype(np.float64)),
    )
