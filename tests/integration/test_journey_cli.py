"""``cxml journey`` run as a user runs it (a subprocess, a fresh workspace) on a small simulated company."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cxml.data.synthetic import write_company
from cxml.journey import STAGES
from tests.conftest import run_cli

pytestmark = pytest.mark.integration
AS_OF = "2025-12-01"
NUMBERS = ("funnel", "segments", "flow_nodes", "flow_transitions", "time_to_convert", "stitching")


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("company") / "co"
    write_company(out, n_customers=2000, seed=0)
    return out


@pytest.fixture(scope="module")
def journey_run(company, tmp_path_factory) -> tuple[Path, dict, str]:
    home = tmp_path_factory.mktemp("home")
    out = home / "journey"
    proc, payload = run_cli("journey", "--data", str(company), "--as-of", AS_OF, "--out", str(out), "--json", home=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert payload is not None
    return out, payload, proc.stdout


def test_writes_the_page_and_every_number_as_parquet_and_csv(journey_run):
    out, payload, _ = journey_run
    assert Path(payload["html"]) == out / "journey.html"
    for name in NUMBERS:
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / f"{name}.parquet"), pd.read_csv(out / f"{name}.csv"), check_dtype=False
        )
    page = (out / "journey.html").read_text(encoding="utf-8")
    assert page.count("<svg") >= 3 and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_printed_figures_are_the_files_figures(journey_run):
    out, payload, stdout = journey_run
    funnel = pd.read_parquet(out / "funnel.parquet").set_index("stage")
    assert payload["stages"] == {s: int(funnel.loc[s, "reached"]) for s in STAGES}
    assert payload["journeys"] == len(pd.read_parquet(out / "journeys.parquet"))
    assert payload["as_of"].startswith(AS_OF)
    assert json.loads((out / "summary.json").read_text())["stages"] == payload["stages"]
    assert f"{payload['stages']['first_purchase']:,}" in stdout and "journeys staged" in stdout
    assert f"stitched {payload['stitching']['journeys_stitched']:,} of" in stdout


def test_default_segments_are_preferred_channel_region_and_first_channel(journey_run):
    out, _, _ = journey_run
    dims = set(pd.read_parquet(out / "segments.parquet")["dimension"])
    assert dims == {"preferred_channel", "region", "first_channel"}


def test_segment_file_column_from_cxml_segments_assignments(company, tmp_path):
    """assignments.parquet keeps customer_id in the index; FILE:COLUMN picks the lifecycle stage."""
    customers = pd.read_parquet(company / "customers.parquet")
    stage = pd.Series(["active", "lapsing"], dtype="str").iloc[customers.index % 2].to_numpy()
    assignments = pd.DataFrame(
        {"segment": customers.index % 3, "stage": stage}, index=customers["customer_id"].rename("customer_id")
    )
    assignments.to_parquet(tmp_path / "assignments.parquet")
    spec = f"{tmp_path / 'assignments.parquet'}:stage"
    args = ("journey", "--data", str(company), "--as-of", AS_OF, "--segment", spec, "--out", str(tmp_path / "j"))
    proc, _ = run_cli(*args, home=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seg = pd.read_parquet(tmp_path / "j" / "segments.parquet")
    assert set(seg["dimension"]) == {"stage", "first_channel"}
    assert {"active", "lapsing"} <= set(seg.loc[seg["dimension"] == "stage", "segment"])


def test_a_csv_folder_gives_the_parquet_folders_numbers(company, journey_run, tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for table in ("customers", "identities", "orders", "events", "service_contacts"):
        pd.read_parquet(company / f"{table}.parquet").to_csv(csv_dir / f"{table}.csv", index=False)
    proc, payload = run_cli(
        "journey", "--data", str(csv_dir), "--as-of", AS_OF, "--out", str(tmp_path / "j"), "--json", home=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert payload["stages"] == journey_run[1]["stages"] and payload["stitching"] == journey_run[1]["stitching"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data", "{tmp}/nowhere"), "no data at"),
        (("--as-of", "someday"), "--as-of 'someday' is not a date"),
        (("--segment", "tier"), "use preferred_channel or region"),
        (("--segment", "{tmp}/missing.csv"), "segment file"),
    ],
)
def test_bad_options_exit_2_naming_the_problem_and_write_nothing(company, tmp_path, args, message):
    filled = [a.format(tmp=tmp_path) for a in args]
    if "--data" not in filled:
        filled = ["--data", str(company), *filled]
    proc, _ = run_cli("journey", *filled, "--out", str(tmp_path / "j"), home=tmp_path / "home")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "j").exists() and not (tmp_path / "home").exists()


def test_help_names_every_option():
    proc, _ = run_cli("journey", "--help", home=Path("/nonexistent-home"))
    assert proc.returncode == 0
    for option in ("--data", "--as-of", "--segment", "--out", "--churn-days", "--json"):
        assert option in proc.stdout
