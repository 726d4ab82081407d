"""The model card of a registered version: gather every figure from MLflow, render HTML, log it to the run.

Everything is re-derived from what the training run logged (params, metrics, tags, the holdout with label and
scores) and the registered model itself, so a card can be rebuilt for any version at any time. Rendering is
in :mod:`cxml.explain.card_html`; this module does the I/O and the arithmetic.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from cxml import registry
from cxml.datasets import get_family
from cxml.evaluation import bootstrap, plots
from cxml.evaluation.baselines import no_skill_value
from cxml.evaluation.gate_margins import margin_text
from cxml.evaluation.grades import grade
from cxml.evaluation.metrics import binary_metrics
from cxml.evaluation.segments import segment_table
from cxml.explain import shap_plots, uplift_card
from cxml.explain.card_data import CardData, Example, card_stem
from cxml.explain.card_html import render_card, render_index
from cxml.features.reasons import top_reasons
from cxml.models.explanation import model_output
from cxml.models.uplift import bootstrap_intervals
from cxml.pyfunc import load_estimator
from cxml.tracking import client
from cxml.training import HOLDOUT_ARTIFACT

log = logging.getLogger(__name__)
CARD_ARTIFACT_DIR = "model_card"
LOWER_IS_BETTER = {"brier"}
META = ("__label__", "__score__", "__baseline_score__")
SHAP_ROWS = 1000


def bootstrap_all(
    y: np.ndarray, score: np.ndarray, *, n_boot: int = 200, level: float = 0.95, seed: int = 0
) -> dict[str, tuple[float, float, float]]:
    """Every ``binary_metrics`` entry with its percentile bootstrap interval, from one set of resamples."""
    y, score = np.asarray(y, dtype=int), np.asarray(score, dtype=float)
    point = binary_metrics(y, score)

    def statistics(idx: np.ndarray) -> dict[str, float]:
        return {} if y[idx].min() == y[idx].max() else binary_metrics(y[idx], score[idx])

    ci = bootstrap.bootstrap_intervals(y.size, statistics, n_boot=n_boot, level=level, seed=seed)
    return {k: (float(v), *ci.get(k, (float("nan"), float("nan")))) for k, v in point.items()}


def pick_examples(score: np.ndarray) -> list[tuple[int, str]]:
    """Three customers worth reading: the highest risk, a typical (median) one and the lowest risk."""
    order = np.argsort(score, kind="stable")
    picks = [(int(order[-1]), "highest risk"), (int(order[len(order) // 2]), "typical"), (int(order[0]), "lowest risk")]
    return picks


def _default_version(name: str) -> str:
    champion = registry.alias_version(name, registry.CHAMPION)
    if champion is not None:
        return champion
    versions = client().search_model_versions(f"name = '{name}'")
    if not versions:
        raise ValueError(f"no registered model {name!r}; run `cxml train` first")
    return str(max(int(v.version) for v in versions))


def _data_summary(params: dict[str, str], tags: dict[str, str], holdout: pd.DataFrame) -> dict[str, str]:
    return {
        "source": params.get("source", "?"),
        "dataset": params.get("dataset", "?"),
        "as_of": params.get("as_of") or "random split (no as_of)",
        "training rows": params.get("n_train", "?"),
        "holdout rows": f"{len(holdout):,}",
        "features": params.get("n_features", "?"),
        **_target_summary(params.get("train_label_rate"), holdout["__label__"]),
        "feature set": tags.get("cxml.feature_set", "?"),
    }


def _target_summary(train_mean: str | None, holdout: pd.Series) -> dict[str, str]:
    """A 0/1 label as rates, any other target (value, log units) as means."""
    if holdout.isin([0, 1]).all():
        return {"train label rate": _number(train_mean, ".1%"), "holdout label rate": f"{holdout.mean():.1%}"}
    return {"train target mean": _number(train_mean, ",.4g"), "holdout target mean": f"{holdout.mean():,.4g}"}


def _number(value: str | None, fmt: str) -> str:
    try:
        return format(float(value), fmt)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "?"


def gather(name: str, version: str | None = None, *, seed: int = 0) -> CardData:
    """Load a registered version, its run and its holdout, and compute every figure of its card."""

    version = version or _default_version(name)
    mv = client().get_model_version(name, version)
    run_id = str(mv.run_id)
    run = client().get_run(run_id)
    params, tags, logged = run.data.params, run.data.tags, run.data.metrics
    family = tags.get("cxml.family", "churn")
    spec = get_family(family).spec
    holdout = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT))
    estimator = load_estimator(f"models:/{name}/{version}")
    X = holdout[list(estimator.feature_names_in_)]
    if family == "uplift":
        metrics, baseline, figures, examples, segments = _uplift_parts(estimator, X, holdout, seed)
    elif family == "churn":
        metrics, baseline, figures, examples, segments = _probability_parts(estimator, X, holdout, seed)
    else:
        metrics, baseline, figures, examples, segments = _logged_parts(spec, logged, holdout)
    champion = {k.removeprefix("champion_"): v for k, v in logged.items() if k.startswith("champion_")}
    m = spec.primary_metric
    labels = holdout["__label__"].to_numpy(float) if "__label__" in holdout.columns else None
    no_skill = no_skill_value(m, labels, {k.removeprefix("baseline_"): v for k, v in logged.items()})
    model_grade = grade(
        m,
        metrics[m][0],
        baseline[m][0],
        ci_low=metrics[m][1],
        ci_high=metrics[m][2],
        champion=champion.get(m),
        higher_is_better=spec.greater_is_better and m not in LOWER_IS_BETTER,
        no_skill=no_skill,
    )
    gate_passed = tags.get("gate.passed")
    aliases = sorted(getattr(mv, "aliases", []) or [])
    return CardData(
        model_name=name,
        version=str(version),
        run_id=run_id,
        aliases=aliases,
        family=family,
        data=_data_summary(params, tags, holdout),
        primary_metric=m,
        metrics=metrics,
        baseline=baseline,
        champion=champion,
        grade=model_grade,
        gate_passed=None if gate_passed is None else gate_passed == "True",
        gate_reason=tags.get("gate.reason") or mv.tags.get("gate_reason", "no gate decision recorded"),
        validation_status=mv.tags.get("validation_status", "?"),
        figures=figures,
        examples=examples,
        segments=segments,
        baseline_name=spec.baseline_name,
        tags={k: v for k, v in tags.items() if k.startswith("cxml.")},
        no_skill=no_skill,
        gate_margin=margin_text(family, _gate_settings(params)),
    )


def _gate_settings(params: dict[str, str]) -> dict[str, Any]:
    """The gate section of the run's logged pipeline config (empty for runs that logged none)."""
    try:
        return dict(json.loads(params.get("config", "{}")).get("gate", {}))
    except (ValueError, AttributeError):
        return {}


Parts = tuple[dict[str, tuple[float, float, float]], dict[str, tuple[float, float, float]], dict, list, pd.DataFrame]
"""metrics, baseline metrics (value, ci_low, ci_high), figures, examples, per-segment table."""


def _probability_parts(estimator: Any, X: pd.DataFrame, holdout: pd.DataFrame, seed: int) -> Parts:
    """Churn-like cards: ROC, PR, reliability, SHAP of the probability, risk examples, AUC per segment."""
    y = holdout["__label__"].to_numpy(dtype=int)
    score, base = holdout["__score__"].to_numpy(float), holdout["__baseline_score__"].to_numpy(float)
    sample = X.sample(min(SHAP_ROWS, len(X)), random_state=seed) if len(X) > SHAP_ROWS else X
    explanation = estimator.explain(sample, output="probability")
    figures = {
        "roc": plots.roc_plot(y, score, base),
        "pr": plots.pr_plot(y, score, base),
        "reliability": plots.reliability_plot(y, score),
        "shap_bar": shap_plots.bar(explanation),
        "shap_beeswarm": shap_plots.beeswarm(explanation),
    }
    metrics, baseline = bootstrap_all(y, score, seed=seed), bootstrap_all(y, base, seed=seed)
    return metrics, baseline, figures, _examples(estimator, X, y, score), segment_table(X, y, score)


def _uplift_parts(estimator: Any, X: pd.DataFrame, holdout: pd.DataFrame, seed: int) -> Parts:
    """Uplift cards: Qini and decile plots, SHAP of the effect, persuadable examples, uplift per segment."""

    y, arms = uplift_card.targets(holdout)
    score = uplift_card.arm_scores(holdout, arms, "score")
    base = uplift_card.arm_scores(holdout, arms, "baseline_score")
    metrics = bootstrap_intervals(y, score, uplift_card.HEADLINE, seed=seed)
    baseline = bootstrap_intervals(y, base, uplift_card.HEADLINE, seed=seed)
    examples = [
        Example(e["customer_id"], f"{e['label']} ({e['arm']})", e["effect"], int(e["outcome"] > 0), e["reasons"])
        for e in uplift_card.examples(estimator, X, holdout)
    ]
    figures = uplift_card.figures(holdout, X, estimator, sample=SHAP_ROWS, seed=seed)
    return metrics, baseline, figures, examples, uplift_card.segment_table(X, holdout)


def _logged_parts(spec: Any, logged: dict[str, float], holdout: pd.DataFrame) -> Parts:
    """The other families' cards: the holdout metrics the run logged (the primary one with its bootstrap
    interval) beside the baseline's, and the family's own plots of the logged holdout."""
    names = sorted(
        {k.removeprefix("holdout_") for k in logged if k.startswith("holdout_") and not k.endswith(_CI_SUFFIXES)},
        key=lambda m: (m != spec.primary_metric, m),
    )

    def triple(prefix: str, metric: str) -> tuple[float, float, float]:
        value = logged.get(f"{prefix}_{metric}", np.nan)
        return value, logged.get(f"{prefix}_{metric}_ci_low", np.nan), logged.get(f"{prefix}_{metric}_ci_high", np.nan)

    metrics = {m: triple("holdout", m) for m in names}
    baseline = {m: triple("baseline", m) for m in names}
    figures = spec.figures(holdout) if spec.figures is not None else {}
    return metrics, baseline, figures, [], pd.DataFrame()


_CI_SUFFIXES = ("_ci_low", "_ci_high")


def _examples(estimator: Any, X: pd.DataFrame, y: np.ndarray, score: np.ndarray) -> list[Example]:
    picks = pick_examples(score)
    rows = X.iloc[[i for i, _ in picks]]
    explanation = estimator.explain(rows, output="probability")
    probability = model_output(explanation)
    out = []
    for pos, (i, label) in enumerate(picks):
        reasons = top_reasons(explanation[pos], k=3)
        out.append(Example(str(X.index[i]), label, float(probability[pos]), int(y[i]), reasons))
    return out


def write_card(name: str, version: str | None, out_dir: Path, *, log_to_run: bool = True) -> tuple[Path, CardData]:
    """Gather, render and write ``<name>-v<version>.html`` (plus a JSON summary); log the HTML to the run."""

    card = gather(name, version)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = card_stem(card.model_name, card.version)
    path = out_dir / f"{stem}.html"
    path.write_text(render_card(card), encoding="utf-8")
    (out_dir / f"{stem}.json").write_text(json.dumps(card.summary(), default=float, indent=1))
    if log_to_run:
        client().log_artifact(card.run_id, str(path), CARD_ARTIFACT_DIR)
    log.info("model card %s (grade %s) → %s", stem, card.grade.letter, path)
    return path, card


def write_index(out_dir: Path) -> Path:
    """``index.html``: every card in ``out_dir`` and the champion of every registered model, side by side."""

    out_dir.mkdir(parents=True, exist_ok=True)
    cards = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    champions = []
    for model in client().search_registered_models():
        version = registry.alias_version(model.name, registry.CHAMPION)
        if version is None:
            continue
        summary = next((c for c in cards if c["model_name"] == model.name and c["version"] == version), None)
        champions.append(
            {"model_name": model.name, "version": version, "card": summary, **_run_figures(model.name, version)}
        )
    path = out_dir / "index.html"
    path.write_text(render_index(cards, champions), encoding="utf-8")
    return path


def _run_figures(name: str, version: str) -> dict[str, Any]:
    """Headline numbers of a version straight from its run (for champions without a card yet)."""
    mv = client().get_model_version(name, version)
    run = client().get_run(str(mv.run_id))
    metrics = run.data.metrics
    family = run.data.tags.get("cxml.family", "churn")
    return {
        "family": family,
        "primary_metric": _primary_metric(family),
        "holdout": {k.removeprefix("holdout_"): v for k, v in metrics.items() if k.startswith("holdout_")},
        "baseline": {k.removeprefix("baseline_"): v for k, v in metrics.items() if k.startswith("baseline_")},
        "feature_set": run.data.tags.get("cxml.feature_set", "?"),
        "gate_reason": run.data.tags.get("gate.reason", mv.tags.get("gate_reason", "")),
    }


def _primary_metric(family: str) -> str | None:
    """The family's primary metric, or None for a family this installation does not register."""
    try:
        return get_family(family).spec.primary_metric
    except ValueError:
        return None
