"""The ``cxml`` command line: generate, validate, features, train, promote, explain, report, build, serve, demo.

Each command imports its job inside the command: the jobs pull in MLflow, BentoML, the boosters and DuckDB (about
3 s), and ``cxml --help`` or a mistyped option must answer at once. These are the only function-level imports of
cxml modules in the package.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from cxml import progress
from cxml.config import BUILTIN_FAMILIES as _FAMILIES
from cxml.config import Workspace
from cxml.json_lines import json_line

app = typer.Typer(
    help="cxml: customer decisions you can act on, each one explained. Run `cxml COMMAND --help` for details.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("cxml")
_STATE: dict[str, str | None] = {}
"""What the top-level options set for the command that runs (the tracking URI as it was at start)."""

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Workspace for the MLflow store, studies, snapshots and BentoML store (default: $CXML_HOME or ./.cxml).",
    ),
]
DataOption = Annotated[Path, typer.Option("--data", help="Folder of contract tables (Parquet or CSV).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line of stdout.")]
EngineOption = Annotated[
    str, typer.Option("--engine", help="duckdb (in-process) or spark (the same SQL on a Spark cluster).")
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        envvar="SPARK_MASTER",
        help="Spark master URL for --engine spark (default: spark-submit's master, else two local cores).",
    ),
]


def _version() -> str:
    """The installed distribution's version; the package's own when cxml runs from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cxml")
    except PackageNotFoundError:
        from cxml import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cxml {_version()}")
        raise typer.Exit()


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            envvar="MLFLOW_TRACKING_URI",
            help="MLflow tracking and registry store (default: the workspace's SQLite file).",
        ),
    ] = None,
) -> None:
    _STATE["tracking_uri"] = tracking_uri
    progress.quiet("--json" in sys.argv)  # --json: stdout and stderr carry nothing but the answer and logs
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("mlflow", "alembic", "urllib3", "httpx", "bentoml", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # the cloudpickle notice on every log_model
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _workspace(home: Path | None) -> Workspace:
    ws = Workspace(home, tracking_uri=_STATE.get("tracking_uri"))
    os.environ["BENTOML_HOME"] = str(ws.bentoml_home)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    return ws


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables to (replaced atomically).")],
    customers: Annotated[int, typer.Option("--customers", "-n", help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, byte-identical files.")] = 0,
    start: Annotated[str, typer.Option(help="First day of simulated activity.")] = "2025-01-01",
    end: Annotated[str, typer.Option(help="Day after the last simulated activity.")] = "2026-01-01",
) -> None:
    """Simulate a company: every contract table as Parquet, plus ground truth in OUT/truth/."""
    from cxml.data.synthetic import write_company

    t0 = time.perf_counter()
    counts = write_company(out, customers, seed=seed, start=start, end=end, progress=True)
    for table, n in counts.items():
        typer.echo(f"{table:>18}: {n:>12,} rows")
    typer.echo(f"wrote {out} in {time.perf_counter() - t0:.1f}s")


@app.command()
def validate(
    data: DataOption,
    now: Annotated[str | None, typer.Option(help="Reference time for 'in the future' (default: now).")] = None,
) -> None:
    """Check every table against the data contract; exit 1 naming table, column, rule and rows."""
    from cxml.data.contract import MISSING_TABLE, SCHEMAS, ContractError, validate_tables
    from cxml.data.sources import read_tables

    if not data.is_dir():
        raise _fail(f"no folder of contract tables at {data}; simulate one with `cxml generate --out {data}`")
    try:
        tables = read_tables(data)
        validate_tables(tables, now=now)
    except ContractError as exc:
        hint = ""
        if any(v.rule.startswith(MISSING_TABLE) for v in exc.violations):
            required = ", ".join(name for name, schema in SCHEMAS.items() if schema.required)
            hint = f"\n(required tables: {required}; `cxml generate --out DIR` simulates a complete company)"
        raise _fail(f"{exc}{hint}") from None
    typer.echo(f"ok: {len(tables)} tables valid ({', '.join(f'{k} {len(v):,}' for k, v in tables.items())})")


@app.command()
def features(
    data: DataOption,
    as_of: Annotated[str, typer.Option("--as-of", help="Cut-off: only rows strictly before it are read.")],
    out: Annotated[
        Path, typer.Option("--out", help="Parquet for the customer-360 features (a folder of parts with Spark).")
    ],
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
) -> None:
    """Build the point-in-time customer-360 feature table."""
    t0 = time.perf_counter()
    if engine == "spark":
        from cxml.features.spark import as_spark_path, require_spark, write_features_spark

        try:
            require_spark()
        except RuntimeError as exc:
            raise _fail(str(exc)) from None
        try:
            rows = write_features_spark(as_spark_path(data), as_of, as_spark_path(out), master=spark_master)
        except ValueError as exc:  # a missing table or column, named
            raise _fail(str(exc)) from None
        where = spark_master or "spark-submit's master or local[2]"
        typer.echo(f"{rows:,} customers as of {as_of} → {out} (Spark {where}, {time.perf_counter() - t0:.1f}s)")
        return
    if engine != "duckdb":
        raise _fail(f"--engine must be duckdb or spark, not {engine!r}")
    from cxml.data.sources import write_table_atomic
    from cxml.features.build import build_features

    frame = build_features(data, as_of)
    write_table_atomic(frame.reset_index(), out)
    typer.echo(
        f"{len(frame):,} customers × {frame.shape[1]} features as of {as_of} → {out} ({time.perf_counter() - t0:.1f}s)"
    )


def _column(help_text: str, flag: str) -> Any:
    return typer.Option(flag, help=help_text, rich_help_panel="Bring your own data")


FAMILIES = ", ".join(_FAMILIES)
SEGMENTS = "cxml.segments"


@app.command()
def train(
    family: Annotated[str, typer.Argument(help=f"Model family: {FAMILIES}.")],
    data: Annotated[Path | None, typer.Option("--data", help="Folder of contract tables.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Features from rows before it, labels or holdout from rows at or after it (price: orders before "
            "it; uplift takes none; cross_sell on --transactions: start of the horizon, else chosen from the data) "
            "(default: as_of of the pipeline).",
        ),
    ] = None,
    table: Annotated[
        Path | None, _column("A flat table (CSV/Parquet): customers, or a demand panel for price.", "--table")
    ] = None,
    transactions: Annotated[
        Path | None, _column("A transaction log (CSV/Parquet) for cross_sell and clv.", "--transactions")
    ] = None,
    target: Annotated[str | None, _column("churn/uplift: the target (outcome) column.", "--target")] = None,
    treatment: Annotated[str | None, _column("uplift: the column naming each row's arm.", "--treatment")] = None,
    control: Annotated[str | None, _column("uplift: the value of --treatment marking control.", "--control")] = None,
    id_column: Annotated[str | None, _column("Identifier column of --table.", "--id")] = None,
    drop: Annotated[list[str] | None, _column("Columns of --table to ignore (repeatable).", "--drop")] = None,
    duration: Annotated[str | None, _column("survival: time observed (tenure) column.", "--duration")] = None,
    event: Annotated[str | None, _column("survival: 1/yes when the customer left, else censored.", "--event")] = None,
    customer: Annotated[str | None, _column("cross_sell/clv: customer column of --transactions.", "--customer")] = None,
    item: Annotated[str | None, _column("cross_sell: item (product) column.", "--item")] = None,
    time_column: Annotated[str | None, _column("cross_sell/clv/price: time column.", "--time")] = None,
    value_column: Annotated[str | None, _column("clv: value (amount) column of each transaction.", "--value")] = None,
    calibration_end: Annotated[
        str | None, _column("clv: last day of the calibration period (then the holdout).", "--calibration-end")
    ] = None,
    quantity: Annotated[str | None, _column("price: units column (or cross_sell quantity).", "--quantity")] = None,
    invoice: Annotated[
        str | None, _column("cross_sell: invoice id column (ids starting with C are cancellations).", "--invoice")
    ] = None,
    item_filter: Annotated[
        str | None,
        _column(
            "cross_sell: regex an item id must contain to count as a product; none keeps all (default: from the "
            "data, see the run's data.item_filter_why).",
            "--item-filter",
        ),
    ] = None,
    min_buyers: Annotated[
        int | None,
        _column("cross_sell: distinct look-back buyers an item needs (default: from the data).", "--min-buyers"),
    ] = None,
    horizon_days: Annotated[
        float | None, _column("cross_sell: label window in days (default: from the data).", "--horizon-days")
    ] = None,
    log_quantity: Annotated[
        str | None, _column("price: log-units column instead of --quantity.", "--log-quantity")
    ] = None,
    price: Annotated[str | None, _column("price: price column.", "--price")] = None,
    group: Annotated[list[str] | None, _column("price: heterogeneity columns (repeatable).", "--group")] = None,
    controls: Annotated[list[str] | None, _column("price: control columns (repeatable).", "--controls")] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(help="Pipeline YAML over the shipped defaults (default: pipelines/FAMILY.yaml if present)."),
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Override the number of Optuna trials.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted study and its run.")] = False,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            envvar="CXML_OPTUNA_STORAGE",
            help="Optuna study database (postgresql://user@host/db) that workers on other machines can join with "
            "`cxml tune --worker` (default: a journal file in the workspace).",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Tuning processes on the study, one booster thread each.")
    ] = 1,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for another training on the same workspace (0: refuse at once)."),
    ] = 1800.0,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Tune, train, evaluate on a holdout, register and gate a model (on contract data or your own file)."""
    from cxml.config import TrainRequest
    from cxml.jobs.train import run_train
    from cxml.workspace_lock import WorkspaceBusy

    ws = _workspace(home)
    request = TrainRequest(
        family=family,
        data=data,
        as_of=as_of,
        table=table,
        transactions=transactions,
        target=target,
        treatment=treatment,
        control=control,
        id_column=id_column,
        drop=tuple(drop or ()),
        duration=duration,
        event=event,
        customer=customer,
        item=item,
        time=time_column,
        value=value_column,
        calibration_end=calibration_end,
        quantity=quantity,
        invoice=invoice,
        item_filter=item_filter,
        min_buyers=min_buyers,
        horizon_days=horizon_days,
        log_quantity=log_quantity,
        price=price,
        group=tuple(group or ()),
        controls=tuple(controls or ()),
        pipeline=pipeline,
        trials=trials,
        resume=resume,
        storage=storage,
        workers=workers,
    )
    try:
        result = run_train(request, ws, progress=not as_json, wait=wait)
    except WorkspaceBusy as exc:
        raise _fail(f"{exc}; nothing was trained (--wait SECONDS waits longer)") from None
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    m, b = result.metrics, result.baseline_metrics
    for key in m:
        if key in b:
            typer.echo(f"  {key:>12}: {m[key]:.4f}   baseline {b[key]:.4f}")
    for key, cv_score in result.cv_metrics.items():
        typer.echo(f"  {'cv_' + key:>12}: {cv_score:.4f}")
    typer.echo(f"{result.model_name} version {result.model_version}: {result.gate.reason}")
    if as_json:
        typer.echo(result.to_json())


@app.command()
def tune(
    storage: Annotated[str, typer.Option("--storage", help="The study's database (postgresql://user@host/db).")],
    study: Annotated[str, typer.Option("--study", help="The study's name (printed by `cxml train --storage`).")],
    worker: Annotated[bool, typer.Option("--worker", help="Join as one more tuning worker (required).")] = False,
) -> None:
    """Join a study that `cxml train FAMILY --storage URL` started, from this or another machine.

    The worker reads the training rows the starting machine wrote beside its workspace, so it must see that
    folder; it tunes until the study has its trials, then exits. The starting `cxml train` refits the best trial.
    """
    from cxml.tuning import join_study

    if not worker:
        raise _fail("`cxml tune` only joins studies: pass --worker (`cxml train --storage` starts them)", 2)
    try:
        held = join_study(storage, study, worker=os.getpid())
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(f"study {study}: {held} trials finished")


@app.command()
def promote(
    family: Annotated[str, typer.Argument(help=f"Model family: {FAMILIES}.")],
    version: Annotated[str | None, typer.Option(help="Version to make champion (must have passed the gate).")] = None,
    rollback: Annotated[bool, typer.Option("--rollback", help="Restore the previous champion.")] = False,
    name: Annotated[str | None, typer.Option(help="Registered model (default: cxml.FAMILY).")] = None,
    home: HomeOption = None,
) -> None:
    """Move the champion alias: to a gate-passed version, or back to the previous one."""
    from cxml import registry, tracking
    from cxml.workspace_lock import WorkspaceBusy

    ws = _workspace(home)
    tracking.configure(ws)
    model = name or f"cxml.{family}"
    try:
        if rollback:
            demoted, restored = registry.rollback(model)
            typer.echo(f"{model}: champion rolled back from version {demoted} to {restored}")
        elif version:
            registry.promote(model, version, reason="manual promotion via cxml promote")
            typer.echo(f"{model}: version {version} is champion")
        else:
            champion = registry.alias_version(model, registry.CHAMPION)
            if champion is None:
                make = "cxml segments --as-of DATE" if family == "segments" else f"cxml train {family}"
                typer.echo(f"{model}: no champion yet; `{make}` trains one and promotes it when it passes the gate")
            else:
                typer.echo(f"{model}: champion is version {champion}; pass --version N or --rollback to change it")
    except (ValueError, WorkspaceBusy) as exc:
        raise _fail(str(exc)) from None


@app.command()
def explain(
    family: Annotated[str, typer.Argument(help=f"Model family: {FAMILIES}.")],
    customer: Annotated[str, typer.Option("--customer", help="Customer id in the latest feature snapshot.")],
    top: Annotated[int, typer.Option(help="Number of reasons.")] = 3,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Score one customer with the champion and print the top reasons in words (uplift: effect per arm and why)."""
    from cxml.jobs.explain import explain_customer

    ws = _workspace(home)
    try:
        result = explain_customer(ws, family, customer, top)
    except (KeyError, ValueError) as exc:
        raise _fail(str(exc).strip("'")) from None
    scores = (
        f"score {result['score']:.3f}"
        if "score" in result
        else "effects " + ", ".join(f"{arm} {v:+.3f}" for arm, v in result["effects"].items())
    )
    typer.echo(f"{result['model_name']} v{result['model_version']}  customer {customer}: {scores}")
    typer.echo(f"  (snapshot as of {result['as_of']}){result.get('headline', '')}")
    for reason in result["reasons"]:
        typer.echo(f"  - {reason['text']}")
    if "recommended_arm" in result:
        profits = ", ".join(f"{arm} {v:+.2f}" for arm, v in result["expected_profit"].items())
        typer.echo(f"  recommended: {result['recommended_arm']} (expected incremental profit: {profits})")
    if as_json:
        typer.echo(json_line(result))


@app.command()
def report(
    family: Annotated[str | None, typer.Argument(help=f"Model family: {FAMILIES} (omit with --index alone).")] = None,
    version: Annotated[
        str | None, typer.Option(help="Version to report (default: the champion, else the latest).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Registered model (default: cxml.FAMILY).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the HTML (default: WORKSPACE/reports).")] = None,
    index: Annotated[bool, typer.Option("--index", help="Also write index.html linking every card.")] = False,
    home: HomeOption = None,
) -> None:
    """Write a self-contained HTML model card (logged to the model's MLflow run) and/or the index of cards."""
    from cxml.jobs.report import write_report, write_report_index

    if family is None and not index:
        raise _fail("give a FAMILY, --index, or both", 2)
    ws = _workspace(home)
    if family is not None:
        try:
            path, card = write_report(ws, name or f"cxml.{family}", version, out)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        typer.echo(f"{card.model_name} v{card.version}: grade {card.grade.letter} → {path}")
    if index:
        typer.echo(f"index → {write_report_index(ws, out)}")


@app.command()
def segments(
    as_of: Annotated[str, typer.Option("--as-of", help="Date the customers are segmented at.")],
    data: Annotated[Path | None, typer.Option("--data", help="Folder of contract tables.")] = None,
    compare_to: Annotated[
        str | None, typer.Option("--compare-to", help="Earlier date: print the lifecycle-stage migration from it.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the CSV/Parquet results.")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Behavioural segments (described in words), lifecycle stage and value × engagement for every customer.

    Tracked in MLflow (cxml/segments); the segmenter is registered as cxml.segments and becomes champion only
    when stable across seeds (mean adjusted Rand index >= 0.8) with no segment under 3 % of customers.
    """
    from cxml.data.sources import read_valid_tables
    from cxml.jobs.segments import run_segments

    ws = _workspace(home)
    data_dir = data or ws.data
    try:
        result = run_segments(
            ws, read_valid_tables(data_dir), as_of, compare_to=compare_to, out_dir=out, source=str(data_dir)
        )
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    medians = result.lifetimes["median"]
    for row in result.segments.itertuples():
        median = medians.get(str(row.name), float("nan"))
        life = f"median lifetime {median:.1f} months" if math.isfinite(median) else "half still customers"
        typer.echo(f"  {row.Index}. {row.name} ({row.share:.0%}, {life}): {'; '.join(row.traits)}")
        typer.echo(f"     {_segment_outcomes_line(row)}")
    typer.echo(f"  stages: {result.summary()['stages']}")
    if result.migration is not None:
        typer.echo(f"  lifecycle migration {compare_to} (rows) -> {as_of} (columns):\n{result.migration.to_string()}")
    typer.echo(f"{SEGMENTS} version {result.model_version}: {result.gate.reason}; results in {result.out_dir}")
    if as_json:
        typer.echo(json_line(result.summary()))


def _segment_outcomes_line(row: Any) -> str:
    """A segment's churn rate, spend and campaign uplift with their 95 % intervals, as the card shows them."""

    def pct(value: float, low: float, high: float) -> str:
        return f"{value:.1%} [{low:.1%}, {high:.1%}]" if math.isfinite(value) else "n/a"

    parts = [
        f"churn {pct(row.churn_rate, row.churn_low, row.churn_high)}",
        f"spend last 365 days {row.value_mean:,.0f} [{row.value_low:,.0f}, {row.value_high:,.0f}]",
    ]
    if math.isfinite(row.uplift):
        parts.append(
            f"campaign uplift {row.uplift * 100:+.1f} pts [{row.uplift_low * 100:+.1f}, {row.uplift_high * 100:+.1f}]"
        )
    return "; ".join(parts)


@app.command()
def lookalike(
    as_of: Annotated[str, typer.Option("--as-of", help="Date of the features customers are compared on.")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file for the scored list (written atomically).")],
    seed_file: Annotated[
        Path | None, typer.Option("--seed-file", help="CSV/Parquet with a customer_id column (or one id per line).")
    ] = None,
    churners: Annotated[
        bool, typer.Option("--churners", help="Seed with last quarter's churners (active before, silent since).")
    ] = False,
    level: Annotated[
        float, typer.Option(help="Expansion level: the share of customers selected (0.1 = top 10 %).")
    ] = 0.1,
    data: Annotated[Path | None, typer.Option("--data", help="Folder of contract tables.")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Score every customer by likeness to a seed set; write the ranked list and the top LEVEL share selected."""
    from cxml.data.sources import read_valid_tables
    from cxml.jobs.lookalike import churner_seed, read_seed_ids, run_lookalike

    if (seed_file is None) == (not churners):
        raise _fail("pass exactly one of --seed-file FILE or --churners", 2)
    if not 0 < level <= 1:
        raise _fail(f"--level must lie in (0, 1], got {level}", 2)
    ws = _workspace(home)
    try:
        tables = read_valid_tables(data or ws.data)
        seed = churner_seed(tables, as_of) if churners else read_seed_ids(seed_file)  # type: ignore[arg-type]
        result = run_lookalike(
            ws,
            tables,
            as_of,
            seed,
            out,
            level=level,
            seed_name="churners" if churners else seed_file.stem,  # type: ignore[union-attr]
        )
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(
        f"{result['n_seed']} seed customers; {result['method']} chosen by held-out recall {result['recall']} "
        f"(random {result['random']}); {result['n_selected']:,} of {result['n_scored']:,} selected -> {result['path']}"
    )
    for reason in result["alike_because"]:
        typer.echo(f"  alike because: {reason}")
    if as_json:
        typer.echo(json_line(result))


@app.command()
def journey(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Folder of contract tables: Parquet (scanned in place) or CSV (default: WORKSPACE/data/company).",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Cut-off: only rows before it (default: midnight after the last row)."),
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option(
            "--segment",
            help="Split the funnel by preferred_channel, region, or a CSV/Parquet file of labels per customer_id "
            "(FILE or FILE:COLUMN, e.g. the assignments.parquet of `cxml segments`) (default: preferred_channel "
            "and region). The first channel is always a split too.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for journey.html and its Parquet/CSV numbers (default: WORKSPACE/reports/journey)."
        ),
    ] = None,
    churn_days: Annotated[int, typer.Option("--churn-days", help="Churned: no purchase for this many days.")] = 90,
    threads: Annotated[int | None, typer.Option("--threads", help="DuckDB threads (default: all cores).")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """The customer journey: first (anonymous) visit → identified → purchase → repeat → service → survey → churned.

    One self-contained HTML page that works offline, with every number behind it as Parquet and CSV:
    the funnel with conversion and median days between stages, per segment and per channel;
    the channel flow (Sankey: web → app → store → phone …) and the time to convert;
    how many journeys identity resolution stitched to a customer.
    """

    from cxml.jobs.journey import run_journey

    ws = Workspace(home)  # only the default folders come from the workspace; nothing else is created
    data_dir = data or ws.data
    out_dir = out or ws.root / "reports" / "journey"
    typer.echo(f"journey of {data_dir}")
    try:
        result = run_journey(
            data_dir, out_dir, as_of=as_of, segment=segment, churn_days=churn_days, threads=threads,
            progress=typer.echo,
        )  # fmt: skip
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    s = result.summary
    for stage, reached in s["stages"].items():
        conversion = s["conversion"].get(stage)
        rate = "" if conversion is None else f"   {conversion:6.1%} of the previous stage"
        typer.echo(f"  {stage:>16}: {reached:>10,}{rate}")
    st = s["stitching"]
    typer.echo(
        f"  identity resolution stitched {st['journeys_stitched']:,} of {st['customer_journeys']:,} customer "
        f"journeys ({st['journeys_starting_stitched']:,} start with an anonymous visit) and "
        f"{st['stitched_share'] or 0:.0%} of anonymous events; {st['journeys_left_anonymous']:,} identifiers "
        "stayed anonymous"
    )
    typer.echo(f"{s['journeys']:,} journeys as of {s['as_of']} → {result.html} ({s['seconds']:.1f}s)")
    if as_json:
        typer.echo(json_line({**s, "html": str(result.html), "out_dir": str(result.out_dir)}))


def _export(ws: Workspace, data: Path | None, as_of: str | None) -> dict[str, str]:
    """Write the snapshot when asked (or when there is none), then export every champion; errors exit 1."""
    from cxml.jobs.export import NothingToServe, export_for_serving, require_champions
    from cxml.jobs.snapshot import has_snapshot, run_snapshot

    try:
        require_champions(ws)
        if data is not None or as_of is not None or not has_snapshot(ws):
            typer.echo(f"snapshot as of {run_snapshot(ws, data, as_of).date()}")
        return export_for_serving(ws)
    except (NothingToServe, ValueError) as exc:
        raise _fail(str(exc)) from None


SnapshotAsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Snapshot date: features from rows before it (default: the day after the last order).",
    ),
]


@app.command()
def snapshot(
    data: Annotated[Path | None, typer.Option("--data", help="Folder of contract tables.")] = None,
    as_of: SnapshotAsOf = None,
    home: HomeOption = None,
) -> None:
    """Write the serving snapshot: every customer's features (and contact states) at one date."""
    from cxml.jobs.snapshot import run_snapshot

    ws = _workspace(home)
    try:
        date = run_snapshot(ws, data, as_of)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"snapshot of {data or ws.data} as of {date.date()} → {ws.snapshots}")


@app.command()
def build(
    data: Annotated[Path | None, typer.Option("--data", help="Rewrite the snapshot from this folder first.")] = None,
    as_of: SnapshotAsOf = None,
    home: HomeOption = None,
) -> None:
    """Export the champions and the feature snapshot to the BentoML store and build the Bento."""
    from cxml.jobs.export import build_bento

    ws = _workspace(home)
    typer.echo(f"serving {_export(ws, data, as_of)}")
    with progress.step("bentoml build"):
        tag = build_bento(ws)
    typer.echo(f"built the Bento {tag} (BENTOML_HOME={ws.bentoml_home})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; if a process holds it, its PID is named and nothing starts.")] = 3000,
    home: HomeOption = None,
) -> None:
    """Serve the champions with BentoML (exports them first, so the served versions are exact).

    Ctrl-C or SIGTERM stops the server and its workers; so does this command's death, even by kill -9 (Linux).
    A client has CXML_READ_TIMEOUT_S seconds (default 10) to send a request's head, then as many for its body."""
    from cxml.jobs.export import serve_command, serve_env
    from cxml.serving.lifetime import port_taken, run_server

    taken = port_taken(host, port)
    if taken is not None:
        raise _fail(taken)
    ws = _workspace(home)
    manifest = _export(ws, None, None)
    _print_try_it(host, port, ws)
    typer.echo(f"serving {manifest}")
    raise typer.Exit(run_server(serve_command(host, port), serve_env(ws)))


def _print_what_to_open(ws: Workspace, pages: dict[str, str], port: int, *, serving: bool) -> None:
    """The demo's last words: the pages it wrote and how to look at the rest, one line each."""
    service = f"http://127.0.0.1:{port}/docs" + ("" if serving else f"  (after `cxml serve --port {port}`)")
    typer.echo("\nOpen:")
    typer.echo(f"  model cards      {pages['cards']}")
    typer.echo(f"  customer journey {pages['journey']}")
    typer.echo(f"  running campaign {pages['campaign']}")
    typer.echo(
        f"  MLflow UI        mlflow ui --backend-store-uri {ws.tracking_uri} --port 5000, then http://127.0.0.1:5000"
    )
    typer.echo(f"  the service      {service}")


def _print_try_it(host: str, port: int, ws: Workspace) -> None:
    from cxml.jobs.snapshot import example_customer

    customer = example_customer(ws)
    payload = shlex.quote(json.dumps({"customer_id": customer, "top_k": 3}))
    typer.echo("\nTry it:")
    for route in ("churn", "uplift", "next_best_action"):
        url = f"http://{host}:{port}/{route}"
        typer.echo(f"  curl -s -X POST {url} -H 'Content-Type: application/json' -d {payload}")
    typer.echo(f"  curl -s http://{host}:{port}/info\n")
    typer.echo(
        f"MLflow UI:\n  mlflow ui --backend-store-uri {ws.tracking_uri} --port 5000  "
        "# then open http://127.0.0.1:5000\n"
    )


@app.command()
def demo(
    customers: Annotated[int, typer.Option("--customers", "-n", help="Simulated customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    trials: Annotated[int | None, typer.Option(help="Override the number of Optuna trials.")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after building the Bento.")] = False,
    port: Annotated[int, typer.Option(help="Port for the server.")] = 3000,
    home: HomeOption = None,
) -> None:
    """The main job end to end: generate → validate → features → tune/train → gate → explain → card → build → serve."""
    from cxml.jobs.demo import run_demo
    from cxml.jobs.export import build_bento

    ws = _workspace(home)
    t0 = time.perf_counter()
    summary = run_demo(ws, customers=customers, seed=seed, trials=trials, echo=typer.echo)
    with progress.step("bentoml build"):
        tag = build_bento(ws)
    typer.echo(f"built the Bento {tag} (bentoml list, BENTOML_HOME={ws.bentoml_home})")
    typer.echo(f"demo ready in {time.perf_counter() - t0:.0f}s: {json_line(summary)}")
    _print_what_to_open(ws, summary["pages"], port, serving=not no_serve)
    if not no_serve:
        serve(host="127.0.0.1", port=port, home=home)


@app.command()
def score(
    family: Annotated[
        str, typer.Argument(help="Served family: churn, uplift, survival, clv, cross_sell, segments, price.")
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="Parquet file, or a database table as SQLAlchemy URL#table (postgresql://…/db#scores); "
            "replaced at once, never half-written.",
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Score date: features from rows before it (default: the day after the last order)."
        ),
    ] = None,
    reasons: Annotated[int, typer.Option("--reasons", help="Top reasons per customer, in words (0: none).")] = 0,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Folder of contract tables (default: the latest snapshot's, else the workspace's)."
        ),
    ] = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Score every customer with the family's champion: one row per customer, with the model version and date.

    With --engine spark the features are built and scored on Spark executors (churn, uplift, survival).
    """
    from cxml.jobs.score import score_customers

    ws = _workspace(home)
    try:
        result = score_customers(
            ws,
            family,
            out,
            data_dir=data,
            as_of=as_of,
            reasons=reasons,
            progress=not as_json and sys.stderr.isatty(),
            engine=engine,
            spark_master=spark_master,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"{result.rows:,} rows scored by {result.model_name} v{result.model_version} as of {result.as_of} → "
        f"{result.out} ({result.seconds:.1f}s, {result.rows / max(result.seconds, 1e-9):,.0f} rows/s)"
    )
    if as_json:
        typer.echo(json_line(result.summary()))


campaign_app = typer.Typer(
    help="A campaign that learns while it runs: update the allocation, read out the arms, evaluate a policy "
    "from the logs, simulate policies (DESIGN §11).",
    no_args_is_help=True,
)
app.add_typer(campaign_app, name="campaign")


@campaign_app.command("simulate")
def campaign_simulate(
    table: Annotated[
        Path | None,
        typer.Option("--table", help="A randomised test to replay (CSV/Parquet); none: the simulated company."),
    ] = None,
    treatment: Annotated[
        str | None, typer.Option("--treatment", help="--table: the column naming each row's arm.")
    ] = None,
    control: Annotated[
        str | None, typer.Option("--control", help="--table: the value of --treatment marking control.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="--table: the outcome column (0/1 or an amount).")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="--table: identifier column (default: row numbers).")
    ] = None,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="--table: columns to ignore (repeatable).")] = None,
    shuffles: Annotated[int, typer.Option(help="--table: arrival orders replayed per policy.", min=1)] = 20,
    prior_share: Annotated[
        float, typer.Option(help="--table: share held aside to fit the warm start's uplift model (never replayed).")
    ] = 0.3,
    batch_size: Annotated[int, typer.Option(help="--table: rows offered between two refits.", min=1)] = 1000,
    relabel: Annotated[
        bool, typer.Option("--relabel", help="--table: shuffle the arm labels first (an A/A test: no true winner).")
    ] = False,
    customers: Annotated[
        int, typer.Option("--customers", "-n", help="Simulated company: customers.", min=1000)
    ] = 40_000,
    campaign: Annotated[str, typer.Option(help="Simulated company: the campaign to run (CMP01 .. CMP05).")] = "CMP05",
    seeds: Annotated[int, typer.Option(help="Simulated company: closed-loop runs (seeds 0 .. N-1).", min=1)] = 20,
    days: Annotated[int, typer.Option(help="Simulated company: days the campaign runs (one refit a day).", min=1)] = 14,
    prior_noise: Annotated[
        float, typer.Option(help="Simulated company: sd of the warm start's model error per customer and arm.")
    ] = 0.1,
    prior_weight: Annotated[float, typer.Option(help="Pseudo-observations the warm start's prior is worth.")] = 20.0,
    seed: Annotated[int, typer.Option(help="Random seed (company, split, arrival orders).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Every allocation policy side by side: regret on the simulated company, or a replay of your randomised test."""
    from cxml.datasets.tables import TableError
    from cxml.jobs.campaign_simulate import simulate_company, simulate_table

    def progress(line: str) -> None:
        typer.echo(line, err=True)

    try:
        if table is None:
            result = simulate_company(
                customers=customers,
                company_seed=seed,
                campaign=campaign,
                seeds=range(seeds),
                days=days,
                prior_noise=prior_noise,
                prior_weight=prior_weight,
                echo=progress,
            )
            for name, r in result["regret"].items():
                typer.echo(f"{name:28s} regret {r['mean']:9.1f} ± {r['sd']:.1f} over {seeds} seeds")
            typer.echo(
                f"warm start beats cold Thompson on {result['warm_beats_cold']}/{seeds} seeds; warm/uniform regret "
                f"{result['warm_over_uniform']:.2f}; wrong prior/cold {result['wrong_prior_over_cold']:.2f}"
            )
        else:
            missing = [
                o for o, v in (("--treatment", treatment), ("--control", control), ("--target", target)) if not v
            ]
            if missing:
                raise _fail(f"--table needs {' '.join(missing)}")
            assert treatment and control and target
            result = simulate_table(
                table,
                treatment=treatment,
                control=control,
                target=target,
                id_column=id_column,
                drop=drop or (),
                shuffles=shuffles,
                prior_share=prior_share,
                batch_size=batch_size,
                prior_weight=prior_weight,
                seed=seed,
                relabel=relabel,
                echo=progress,
            )
            typer.echo(f"best single arm {result['best_arm']!r}: {result['best_arm_rate']:.4f} {target} per customer")
            for name, r in result["rate"].items():
                readout = result["readout"].get(name)
                winner = "n/a (no readout module)" if readout is None else (readout.get("winner") or "none yet")
                typer.echo(f"{name:16s} {target} per contact {r['mean']:.4f} ± {r['sd']:.4f}  winner: {winner}")
    except (TableError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(json_line(result))


CampaignOption = Annotated[str, typer.Option("--campaign", help="Campaign id (letters, digits, '.', '_', '-').")]


@campaign_app.command("start")
def campaign_start(
    campaign: CampaignOption,
    arms: Annotated[str, typer.Option("--arms", help="Every arm, the control included, comma-separated.")],
    control: Annotated[str, typer.Option("--control", help="The arm that is 'no offer' (or today's default).")],
    outcome: Annotated[str, typer.Option("--outcome", help="binary (responded) or continuous (spend).")] = "binary",
    policy: Annotated[
        str, typer.Option("--policy", help="uniform, thompson, top_two or warm_thompson (prior: the uplift champion).")
    ] = "thompson",
    min_share: Annotated[float, typer.Option("--min-share", help="Floor on every active arm's share.")] = 0.01,
    holdout_share: Annotated[
        float, typer.Option("--holdout-share", help="Customers never contacted (shared with the next best action).")
    ] = 0.05,
    prior_weight: Annotated[
        float, typer.Option("--prior-weight", help="Pseudo-observations the warm start's prior is worth.")
    ] = 20.0,
    value_per_response: Annotated[float, typer.Option(help="Revenue of one response (readout revenue).")] = 0.0,
    cost_per_contact: Annotated[float, typer.Option(help="Cost of one contact (readout revenue).")] = 0.0,
    min_lift: Annotated[float, typer.Option(help="A lift below this is not worth having (drops an arm).")] = 0.0,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a campaign: its spec and allocation v1 in the workspace; the service assigns by it at once."""
    from pydantic import ValidationError

    from cxml.campaigns.spec import CampaignSpec
    from cxml.jobs.campaign import start_campaign

    ws = _workspace(home)
    try:
        spec = CampaignSpec(
            campaign_id=campaign,
            arms=tuple(a.strip() for a in arms.split(",") if a.strip()),
            control=control,
            outcome=outcome,
            policy=policy,
            min_share=min_share,
            holdout_share=holdout_share,
            prior_weight=prior_weight,
            value_per_response=value_per_response,
            cost_per_contact=cost_per_contact,
            min_lift=min_lift,
        )
        result = start_campaign(ws, spec)
    except ValidationError as exc:
        problems = "; ".join(f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        raise _fail(problems) from None
    except (ValueError, FileExistsError) as exc:
        raise _fail(str(exc)) from None
    shares = ", ".join(f"{a} {p:.2f}" for a, p in result["shares"].items())
    typer.echo(f"campaign {campaign} started ({policy}): allocation v1 {shares} → {result['path']}")
    if as_json:
        typer.echo(json_line(result))


@campaign_app.command("update")
def campaign_update(
    campaign: CampaignOption,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help="Outcome file to ingest first (CSV/Parquet: campaign_id, customer_id, outcome, observed_at).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the policy's posterior draws.")] = 0,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read the log and outcomes so far, read out, stop dropped arms, fit the policy, write the next allocation
    (an MLflow run under cxml/campaigns)."""
    from cxml.campaigns.store import AllocationConflict, CampaignNotFound
    from cxml.jobs.campaign import update_campaign

    ws = _workspace(home)
    try:
        result = update_campaign(ws, campaign, outcomes_file=outcomes, seed=seed)
    except (CampaignNotFound, AllocationConflict, ValueError) as exc:
        raise _fail(str(exc)) from None
    shares = ", ".join(f"{a} {p:.3f}" for a, p in result.shares.items())
    typer.echo(
        f"campaign {campaign}: allocation v{result.version} ({result.policy}) from {result.n_assignments:,} "
        f"assignments and {result.n_outcomes:,} outcomes: {shares}"
    )
    if result.stopped:
        typer.echo(f"  stopped arms: {', '.join(result.stopped)}")
    if result.readout is not None:
        typer.echo(f"  winner: {result.readout.get('winner') or 'none yet'}; MLflow run {result.run_id}")
    if as_json:
        typer.echo(json_line(result.summary()))


@campaign_app.command("readout")
def campaign_readout(
    campaign: CampaignOption,
    html: Annotated[
        Path | None, typer.Option("--html", help="Where to write the page (default: workspace reports).")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Which arms beat control and by how much (valid at any look), what to stop, and the page."""
    from cxml.campaigns.store import CampaignNotFound
    from cxml.jobs.campaign import readout_campaign

    ws = _workspace(home)
    try:
        result = readout_campaign(ws, campaign, html=html)
    except (CampaignNotFound, ValueError) as exc:
        raise _fail(str(exc)) from None
    for arm in result["arms"]:
        typer.echo(
            f"{arm['arm']:16s} n {arm['n']:>8,}  mean {_fmt(arm['mean'])}  lift {_fmt(arm['lift'])} "
            f"[{_fmt(arm['lower'])}, {_fmt(arm['upper'])}]  {arm['decision']}"
        )
    typer.echo(f"winner: {result['winner'] or 'none yet'}; page {result['page']}")
    if as_json:
        typer.echo(json_line(result))


def _fmt(value: object) -> str:
    return f"{value:+.4f}" if isinstance(value, float) and math.isfinite(value) else "–"


@campaign_app.command("evaluate")
def campaign_evaluate(
    campaign: CampaignOption,
    rule: Annotated[
        str, typer.Option("--rule", help='Candidate targeting rule, e.g. "arm=email top=0.3 score=uplift".')
    ],
    seed: Annotated[int, typer.Option(help="Random seed (cross-fitting folds, bootstrap).")] = 0,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Value a candidate targeting rule from the campaign's logs (IPS, SNIPS, direct method, doubly robust)."""
    from cxml.campaigns.store import CampaignNotFound
    from cxml.jobs.campaign import evaluate_campaign

    ws = _workspace(home)
    try:
        result = evaluate_campaign(ws, campaign, rule, seed=seed)
    except (CampaignNotFound, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"{result['n_logged']:,} logged customers; the logged policy's mean outcome {result['logged_value']:.4f}"
    )
    for name, e in result["estimates"].items():
        typer.echo(f"{name:6s} {e['value']:.4f} [{e['lower']:.4f}, {e['upper']:.4f}]")
    if as_json:
        typer.echo(json_line(result))


if __name__ == "__main__":
    app()
