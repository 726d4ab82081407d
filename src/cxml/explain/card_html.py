"""HTML of model cards and of their index (pure: data in, one self-contained string out).

No external URL of any kind: CSS is inline, images are ``data:`` URIs, links are relative file names, so a card
opens offline and a browser showing it never touches the network.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from cxml.evaluation.grades import RULES
from cxml.evaluation.segments import GAP_THRESHOLD
from cxml.explain.card_data import CardData, card_stem
from cxml.explain.uplift_card import GAP_THRESHOLD as UPLIFT_GAP

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px}h2{border-bottom:2px solid #dde2ea;padding-bottom:4px;margin-top:32px}
section{background:#fff;border-radius:8px;padding:8px 20px 16px;margin:16px 0;box-shadow:0 1px 2px #0001}
table{border-collapse:collapse;margin:8px 0}td,th{padding:4px 10px;border-bottom:1px solid #e6e9ef;text-align:left}
th{background:#f0f2f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.grade{display:inline-block;font-size:40px;font-weight:700;width:64px;height:64px;line-height:64px;text-align:center;
border-radius:12px;color:#fff;margin-right:16px;vertical-align:middle}
.grade-A{background:#2e8b57}.grade-B{background:#d9912b}.grade-C{background:#c0392b}
.passed{color:#2e8b57;font-weight:600}.refused{color:#c0392b;font-weight:600}
.flag{background:#fdecea}.muted{color:#6b7385;font-size:90%}
.figs{display:flex;flex-wrap:wrap;gap:16px}.figs img{max-width:520px;width:100%;border:1px solid #e6e9ef}
.figs img.wide{max-width:100%}
.customer{border-left:4px solid #1f6fb2;padding:4px 12px;margin:12px 0}
"""


def _num(value: float | None, fmt: str = ".4f") -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return format(value, fmt)


def _ci(triple: tuple[float, float, float]) -> str:
    value, lo, hi = triple
    return f"{_num(value)} <span class='muted'>[{_num(lo)}, {_num(hi)}]</span>"


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


def _table(header: list[str] | None, rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    head = "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join(
        f"<tr class='{(row_classes or [''] * len(rows))[i]}'>" + "".join(r) + "</tr>" for i, r in enumerate(rows)
    )
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _data_section(card: CardData) -> str:
    rows = [[f"<th>{escape(k)}</th>", f"<td>{escape(str(v))}</td>"] for k, v in card.data.items()]
    return "<section><h2>Data</h2>" + _table(None, rows) + "</section>"


def _metrics_section(card: CardData) -> str:
    rows = []
    for name, triple in card.metrics.items():
        champion = card.champion.get(name)
        mark = " ★" if name == card.primary_metric else ""
        rows.append(
            [
                f"<td>{escape(name)}{mark}</td>",
                f"<td class='num'>{_ci(triple)}</td>",
                f"<td class='num'>{_ci(card.baseline[name])}</td>",
                f"<td class='num'>{_num(champion)}</td>",
            ]
        )
    header = ["metric", "model [95 % CI]", f"baseline: {card.baseline_name} [95 % CI]", "previous champion"]
    note = (
        "<p class='muted'>Holdout figures; intervals are percentile bootstraps over customers (200 resamples). "
        "★ primary metric. The previous champion column is the champion at training time, re-scored on this holdout"
        f"{'' if card.champion else ' (there was none)'}.</p>"
    )
    return "<section><h2>Metrics</h2>" + _table(header, rows) + note + "</section>"


def _grade_section(card: CardData) -> str:
    g = card.grade
    rules = "".join(f"<li>{escape(r)}</li>" for r in RULES)
    return (
        f"<section><h2>Grade</h2><p><span class='grade grade-{g.letter}'>{g.letter}</span>"
        f"<span>Grade {g.letter}: {escape(g.reason)}</span></p><p class='muted'>Rules:</p><ul>{rules}</ul></section>"
    )


def _figure(uri: str, alt: str, css: str = "") -> str:
    cls = f" class='{css}'" if css else ""
    return f"<img src='{uri}'{cls} alt='{escape(alt)}'>"


def _figures_sections(card: CardData) -> str:
    f = card.figures
    return (
        "<section><h2>Calibration</h2><div class='figs'>"
        + _figure(f["reliability"], "reliability plot")
        + "</div><p class='muted'>Observed churn rate per decile of predicted probability; on the diagonal the "
        "probabilities can be read as rates.</p></section>"
        "<section><h2>ROC and precision-recall curves</h2><div class='figs'>"
        + _figure(f["roc"], "ROC curve")
        + _figure(f["pr"], "precision-recall curve")
        + "</div></section><section><h2>Global drivers (SHAP)</h2><div class='figs'>"
        + _figure(f["shap_bar"], "mean absolute SHAP per feature")
        + _figure(f["shap_beeswarm"], "SHAP beeswarm")
        + "</div><p class='muted'>Tree SHAP contributions on the probability scale, on up to 1,000 holdout customers."
        "</p></section>"
    )


def _uplift_figures_sections(card: CardData) -> str:
    f = card.figures
    return (
        "<section><h2>Qini curves</h2><div class='figs'>"
        + _figure(f["qini"], "Qini curves per arm", "wide")
        + "</div><p class='muted'>Incremental responses per customer of the holdout when the top share is targeted "
        "by the model, by the baseline, and at random (dotted). The Qini coefficient is the area between a curve "
        "and the random line.</p></section>"
        "<section><h2>Uplift by decile</h2><div class='figs'>"
        + _figure(f["deciles"], "observed uplift by decile per arm", "wide")
        + "</div><p class='muted'>Observed treated − control response rate per decile of the predicted effect "
        "(bars) and the mean prediction (line): a useful model descends from left to right.</p></section>"
        "<section><h2>Global drivers of the effect (SHAP)</h2><div class='figs'>"
        + _figure(f["shap_bar"], "mean absolute SHAP of the effect per feature")
        + _figure(f["shap_beeswarm"], "SHAP beeswarm of the effect")
        + f"</div><p class='muted'>Tree SHAP contributions to the estimated effect of {escape(f['shap_arm'])} "
        "(the arm with the largest mean effect), on up to 1,000 holdout customers.</p></section>"
    )


def _family_figures_section(card: CardData) -> str:
    """The plots a family draws of its own holdout (``ModelSpec.figures``), one titled section each."""
    if not card.figures:
        return "<section><h2>Plots</h2><p>This family draws no plots of its holdout.</p></section>"
    return "".join(
        f"<section><h2>{escape(title)}</h2><div class='figs'>{_figure(uri, title)}</div></section>"
        for title, uri in card.figures.items()
    )


def _examples_section(card: CardData) -> str:
    parts = []
    for ex in card.examples:
        reasons = "".join(f"<li>{escape(r.text)}</li>" for r in ex.reasons) or "<li>no notable reason</li>"
        if card.family == "uplift":
            what = f"effect {ex.score:+.3f} (responded: {'yes' if ex.actual else 'no'})"
        else:
            what = f"risk {ex.score:.2f} (actually {'churned' if ex.actual else 'stayed'})"
        parts.append(
            f"<div class='customer'><b>{escape(ex.label)}</b>: customer {escape(ex.customer_id)}, "
            f"{what}<ul>{reasons}</ul></div>"
        )
    return "<section><h2>Example customers</h2>" + "".join(parts) + "</section>"


def _uplift_segments_section(card: CardData) -> str:

    seg = card.segments
    if seg.empty:
        return "<section><h2>Performance per segment</h2><p>No segment columns in this feature set.</p></section>"
    rows = [
        [
            f"<td>{escape(str(r.dimension))}</td>",
            f"<td>{escape(str(r.segment))}</td>",
            f"<td class='num'>{r.rows:,}</td>",
            f"<td class='num'>{_num(r.predicted, '+.3f')}</td>",
            f"<td class='num'>{_num(r.observed, '+.3f')}</td>",
            f"<td class='num'>{_num(r.gap, '+.3f')}</td>",
            f"<td>{'⚠ gap' if r.flagged else ''}</td>",
        ]
        for r in seg.itertuples(index=False)
    ]
    classes = ["flag" if f else "" for f in seg["flagged"]]
    note = (
        f"<p>{int(seg['flagged'].sum())} segment(s) flagged: the mean predicted effect differs from the uplift "
        f"observed in the segment (treated − control) by more than {UPLIFT_GAP}.</p>"
        "<p class='muted'>Observed uplift in small segments is noisy; segments under 30 customers are never "
        "flagged.</p>"
    )
    header = ["dimension", "segment", "customers", "predicted effect", "observed uplift", "gap", ""]
    return "<section><h2>Performance per segment</h2>" + note + _table(header, rows, classes) + "</section>"


def _segments_section(card: CardData) -> str:
    seg = card.segments
    if seg.empty:
        return "<section><h2>Performance per segment</h2><p>No segment columns in this feature set.</p></section>"
    rows, classes = [], []
    for r in seg.itertuples(index=False):
        rows.append(
            [
                f"<td>{escape(str(r.dimension))}</td>",
                f"<td>{escape(str(r.segment))}</td>",
                f"<td class='num'>{r.rows:,}</td>",
                f"<td class='num'>{_num(r.label_rate, '.1%')}</td>",
                f"<td class='num'>{_num(r.roc_auc, '.3f')}</td>",
                f"<td class='num'>{_num(r.pr_auc, '.3f')}</td>",
                f"<td class='num'>{_num(r.gap, '+.3f')}</td>",
                f"<td>{'⚠ gap' if r.flagged else ''}</td>",
            ]
        )
        classes.append("flag" if r.flagged else "")
    n_flagged = int(seg["flagged"].sum())
    note = (
        f"<p>{n_flagged} segment(s) flagged: ROC-AUC differs from the overall value by more than {GAP_THRESHOLD}."
        "</p><p class='muted'>Segments under 30 customers or with a single class are shown but never flagged.</p>"
    )
    header = ["dimension", "segment", "customers", "churn rate", "ROC-AUC", "PR-AUC", "gap", ""]
    return "<section><h2>Performance per segment</h2>" + note + _table(header, rows, classes) + "</section>"


def _gate_section(card: CardData) -> str:
    verdict = {
        True: "<span class='passed'>promoted</span>",
        False: "<span class='refused'>refused</span>",
        None: "unknown",
    }[card.gate_passed]
    return (
        f"<section><h2>Gate decision</h2><p>Decision: {verdict}; validation_status "
        f"<code>{escape(card.validation_status)}</code></p><p>Reason: {escape(card.gate_reason)}</p></section>"
    )


def render_card(card: CardData) -> str:
    aliases = ", ".join(card.aliases) or "no alias"
    header = (
        f"<h1>Model card: {escape(card.model_name)} version {escape(card.version)}</h1>"
        f"<p class='muted'>family {escape(card.family)} · aliases: {escape(aliases)} · MLflow run "
        f"<code>{escape(card.run_id)}</code> · commit <code>{escape(card.tags.get('cxml.git_commit', '?'))}</code></p>"
    )
    if card.family == "uplift":
        details = _uplift_figures_sections(card) + _examples_section(card) + _uplift_segments_section(card)
    elif card.family == "churn":
        details = _figures_sections(card) + _examples_section(card) + _segments_section(card)
    else:
        details = _family_figures_section(card)
    body = header + _data_section(card) + _metrics_section(card) + _grade_section(card) + details + _gate_section(card)
    return _page(f"{card.model_name} v{card.version}", body)


def render_index(cards: list[dict[str, Any]], champions: list[dict[str, Any]]) -> str:
    """Champions side by side (one column each), then every card in the folder."""
    metrics = sorted({k for c in champions for k in c["holdout"] if not k.endswith(("_ci_low", "_ci_high"))})
    cols = [f"<th>{escape(c['model_name'])} v{escape(c['version'])}</th>" for c in champions]

    def link(c: dict[str, Any]) -> str:
        card = c.get("card")
        if card is None:
            return "<td>no card yet</td>"
        stem = card_stem(c["model_name"], c["version"])
        return f"<td><a href='{escape(stem)}.html'>grade {escape(card['grade']['letter'])}</a></td>"

    rows = [["<th>card</th>", *(link(c) for c in champions)]]
    rows.append(["<th>feature set</th>", *(f"<td>{escape(c['feature_set'])}</td>" for c in champions)])
    for m in metrics:
        cells = [
            f"<td class='num'>{_num(c['holdout'].get(m))} <span class='muted'>(baseline "
            f"{_num(c['baseline'].get(m))})</span></td>"
            for c in champions
        ]
        rows.append([f"<th>{escape(m)}</th>", *cells])
    rows.append(["<th>gate</th>", *(f"<td>{escape(c['gate_reason'])}</td>" for c in champions)])
    side = _table(["", *[""] * len(champions)], rows).replace(
        "<thead><tr><th></th>" + "<th></th>" * len(champions), "<thead><tr><th></th>" + "".join(cols), 1
    )
    card_rows = [
        [
            f"<td><a href='{escape(card_stem(c['model_name'], c['version']))}.html'>{escape(c['model_name'])} "
            f"v{escape(c['version'])}</a></td>",
            f"<td>{escape(', '.join(c['aliases']) or '–')}</td>",
            f"<td>{escape(c['grade']['letter'])}</td>",
            f"<td class='num'>{escape(c['primary_metric'])} {_num(c['value'])} "
            f"<span class='muted'>[{_num(c['ci'][0])}, {_num(c['ci'][1])}]</span></td>",
            f"<td class='num'>{_num(c['baseline'])}</td>",
            f"<td>{escape(c['validation_status'])}</td>",
        ]
        for c in cards
    ]
    every = _table(["card", "aliases", "grade", "primary metric [95 % CI]", "baseline", "status"], card_rows)
    body = (
        "<h1>cxml model cards</h1><section><h2>Champions side by side</h2>"
        + (side if champions else "<p>No champion yet.</p>")
        + "</section><section><h2>All cards</h2>"
        + (every if cards else "<p>No card yet; run <code>cxml report FAMILY</code>.</p>")
        + "</section>"
    )
    return _page("cxml model cards", body)
