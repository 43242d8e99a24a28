"""The dashboard web app (Dash + Plotly, every script served by the app itself: no CDN, works offline).

Seven panels over the runs under one folder: run selector; accuracy (pass@1, pass@10) against
step; the evaluator's stat summary (final pass@k, Δ, p, verdict with INCONCLUSIVE); efficiency
against the baseline arm (latency, tokens, throughput ratios; peak RAM); training curves (loss,
learning rate, gradient norm); system health (CPU, RAM, GPU); the alert feed. The page polls
every ``refresh_s`` seconds and redraws what changed on disk, so runs still writing update live.
Select runs in the selector (several = side by side), or open ``/?run=NAME&run=NAME2``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dash_table, dcc, html
from dash.exceptions import PreventUpdate
from plotly.subplots import make_subplots

from ..utils import fmt
from .data import RunCache, RunView

PANEL = {"border": "1px solid #ddd", "borderRadius": "6px", "padding": "8px", "background": "white"}
LEVEL_COLOUR = {"error": "#b00020", "warning": "#a15c00", "info": "#1f5fa8"}
TABLE_COLUMNS = ["run", "comparison", "pass@1", "pass@10", "Δ pass@1", "95% CI", "p", "verdict"]


def _figure(title: str, rows: int = 1, cols: int = 1, titles: tuple[str, ...] = ()) -> go.Figure:
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles) if rows * cols > 1 else go.Figure()
    fig.update_layout(title=title, margin={"l": 40, "r": 10, "t": 60, "b": 40}, height=360,
                      legend={"orientation": "h", "y": -0.3}, template="plotly_white")
    return fig


def _empty(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def accuracy_figure(views: list[RunView]) -> go.Figure:
    """pass@1 / pass@10 curves of every selected run: experiments against attempts finished (left),
    training runs against training step (right)."""
    fig = _figure("2 · Accuracy: pass@1 and pass@10 vs step", 1, 2,
                  ("experiments: vs attempts finished", "training: vs training step"))
    for v in views:
        for line, c in v.accuracy.items():
            fig.add_trace(go.Scatter(x=c["x"], y=c["y"], mode="lines+markers", name=f"{v.name}: {line}"),
                          row=1, col=1 if v.kind == "experiment" else 2)
    fig.update_yaxes(range=[0, 1.02])
    return fig if fig.data else _empty(fig, "no accuracy yet in the selected runs")


def stats_rows(views: list[RunView]) -> list[dict[str, str]]:
    """The summary table: one row per comparison (experiments) or eval split (training)."""
    rows = []
    for v in views:
        if v.stats:
            arms = v.stats["arms"]
            for name, c in v.stats["comparisons"].items():
                p = c["pass_at_1"]
                p10 = arms[c["treatment"]]["pass_at_k"].get("10", {}).get("value")
                rows.append({"run": v.name, "comparison": name,
                             "pass@1": f"{fmt.num(p[c['treatment']])} / {fmt.num(p[c['baseline']])}",
                             "pass@10": fmt.num(p10), "Δ pass@1": fmt.num(p["delta"]), "95% CI": fmt.ci(p["ci95"]),
                             "p": fmt.p_value(p["p_value"]), "verdict": c.get("label", c["verdict"])})
            if not v.stats["comparisons"]:
                for arm, s in arms.items():
                    rows.append({"run": v.name, "comparison": f"{arm} (no baseline)",
                                 "pass@1": fmt.num(s["pass_at_k"].get("1", {}).get("value")),
                                 "pass@10": fmt.num(s["pass_at_k"].get("10", {}).get("value")),
                                 "Δ pass@1": "n/a", "95% CI": "n/a", "p": "n/a", "verdict": "n/a"})
        for line, c in (v.accuracy.items() if v.kind == "training" else ()):
            rows.append({"run": v.name, "comparison": f"{line} at step {c['x'][-1]}", "pass@1": fmt.num(c["y"][-1]),
                         "pass@10": "n/a", "Δ pass@1": "n/a", "95% CI": "n/a", "p": "n/a", "verdict": "n/a"})
    return rows


def efficiency_figure(views: list[RunView]) -> go.Figure:
    """Per arm, latency / tokens / throughput as ratios to the run's baseline arm; peak RAM per run."""
    fig = _figure("4 · Efficiency vs baseline", 1, 2, ("ratio to the baseline arm (1 = same)", "peak RAM (MiB)"))
    for v in views:
        if not v.stats:
            continue
        base = v.stats["baseline"]
        eff = {a: s["efficiency"] for a, s in v.stats["arms"].items()}
        for arm in (a for a in eff if a != base):
            ratios = [_ratio(eff[arm]["latency_task_s"]["mean"], eff[base]["latency_task_s"]["mean"]),
                      _ratio(eff[arm]["tokens_per_attempt"], eff[base]["tokens_per_attempt"]),
                      _ratio(eff[arm]["throughput_tok_s"], eff[base]["throughput_tok_s"])]
            fig.add_trace(go.Bar(x=["latency/attempt", "tokens/attempt", "throughput tok/s"], y=ratios,
                                 name=f"{v.name}: {arm} vs {base}"), row=1, col=1)
        for r in v.stats["runs"]:
            ram = r.get("peak_rss_mb") or {}
            if ram:
                fig.add_trace(go.Bar(x=list(ram), y=list(ram.values()), name=f"{v.name}: peak RAM"), row=1, col=2)
    if not fig.data:
        return _empty(fig, "no experiment run with a baseline selected")
    fig.add_hline(y=1.0, line_dash="dot", row=1, col=1)
    return fig


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def training_figure(views: list[RunView]) -> go.Figure:
    """Loss, learning rate and gradient norm against step for every selected training run."""
    fig = _figure("5 · Training curves", 1, 3, ("loss", "learning rate", "gradient norm"))
    for v in views:
        if not v.train:
            continue
        steps = [e["step"] for e in v.train]
        for col, key in enumerate(("loss", "lr", "grad_norm"), 1):
            fig.add_trace(go.Scatter(x=steps, y=[e.get(key) for e in v.train], mode="lines+markers",
                                     name=f"{v.name}: {key}"),
                          row=1, col=col)
    if not fig.data:
        return _empty(fig, "no training run selected")
    fig.update_yaxes(type="log", row=1, col=1)  # a divergence spans decades
    fig.update_yaxes(type="log", row=1, col=3)
    return fig


def health_figure(views: list[RunView]) -> go.Figure:
    """CPU %, RAM % and GPU utilisation/memory from the watchdog's health samples."""
    fig = _figure("6 · System health", 1, 2, ("CPU / RAM / GPU use (%)", "GPU memory (MiB)"))
    for v in views:
        if not v.health:
            continue
        steps = [e["step"] for e in v.health]
        for key, label in (("cpu_percent", "CPU %"), ("ram_percent", "RAM %"), ("gpu_util_percent", "GPU %")):
            if any(key in e for e in v.health):
                fig.add_trace(go.Scatter(x=steps, y=[e.get(key) for e in v.health], mode="lines+markers",
                                         name=f"{v.name}: {label}"), row=1, col=1)
        if any("gpu_mem_mb" in e for e in v.health):
            fig.add_trace(go.Scatter(x=steps, y=[e.get("gpu_mem_mb") for e in v.health], mode="lines+markers",
                                     name=f"{v.name}: GPU MiB"), row=1, col=2)
    return fig if fig.data else _empty(fig, "no health samples (training runs write them)")


def alert_items(views: list[RunView]) -> list[Any]:
    """The alert feed: errors first, then warnings, then notes."""
    order = {"error": 0, "warning": 1, "info": 2}
    alerts = sorted((a for v in views for a in v.alerts), key=lambda a: order[a.level])
    if not alerts:
        return [html.Li("no alerts", className="alert-none")]
    return [html.Li([html.B(f"{a.level.upper()} "), f"{a.run}: {a.message}"], className=f"alert-{a.level}",
                    style={"color": LEVEL_COLOUR[a.level]}) for a in alerts]


def _panel(children: list[Any], pid: str, span: int = 1) -> html.Div:
    return html.Div(children, id=pid, style={**PANEL, "gridColumn": f"span {span}"})


def create_app(runs_dir: str | Path, refresh_s: float = 2.0) -> Dash:
    """The dashboard over the run folders under ``runs_dir``."""
    cache = RunCache(Path(runs_dir).resolve())
    app = Dash(__name__, title="hrm_agents dashboard", serve_locally=True, update_title=None)
    graph = {"displaylogo": False}
    app.layout = html.Div([
        dcc.Location(id="url"),
        dcc.Interval(id="tick", interval=int(refresh_s * 1000)),
        dcc.Store(id="changed"),
        html.H2("hrm_agents — run dashboard", style={"margin": "4px 0"}),
        html.Div(id="updated", style={"fontSize": "12px", "color": "#666"}),
        html.Div([
            _panel([html.H4("1 · Runs"), dcc.Dropdown(id="runs", multi=True, placeholder="select runs"),
                    html.Ul(id="status", style={"fontSize": "13px", "paddingLeft": "18px"})], "panel-runs"),
            _panel([dcc.Graph(id="accuracy", config=graph)], "panel-accuracy"),
            _panel([html.H4("3 · Stat summary (evaluator verdicts)"),
                    dash_table.DataTable(id="stats", columns=[{"name": c, "id": c} for c in TABLE_COLUMNS],
                                         style_cell={"fontSize": "12px", "textAlign": "left"},
                                         style_data_conditional=[{"if": {"filter_query": '{verdict} contains "INCONCLUSIVE"'},
                                                                  "backgroundColor": "#fff4e0"}])],
                   "panel-stats", span=2),
            _panel([dcc.Graph(id="efficiency", config=graph)], "panel-efficiency"),
            _panel([dcc.Graph(id="training", config=graph)], "panel-training"),
            _panel([dcc.Graph(id="health", config=graph)], "panel-health"),
            _panel([html.H4("7 · Alerts"), html.Ul(id="alerts", style={"fontSize": "13px", "paddingLeft": "18px"})],
                   "panel-alerts"),
        ], style={"display": "grid", "gridTemplateColumns": "1fr 1fr", "gap": "8px"}),
    ], style={"fontFamily": "sans-serif", "background": "#f6f6f6", "padding": "8px"})

    @app.callback(Output("runs", "options"), Output("runs", "value"),
                  Input("tick", "n_intervals"), Input("url", "search"), State("runs", "value"))
    def _runs(_: Any, search: str | None, chosen: list[str] | None) -> tuple[list[dict[str, str]], list[str]]:
        names = [cache.name(p) for p in cache.runs()]
        asked = parse_qs((search or "").lstrip("?")).get("run")
        if chosen is None:
            chosen = [n for n in asked if n in names] if asked else names[:4]
        return [{"label": n, "value": n} for n in names], [n for n in chosen if n in names]

    # the timer only checks file signatures (cheap); the panels are redrawn when they changed, so a
    # slow redraw is never cancelled by the next tick
    @app.callback(Output("changed", "data"), Input("tick", "n_intervals"), Input("runs", "value"),
                  State("changed", "data"))
    def _changed(_: Any, chosen: list[str] | None, seen: Any) -> Any:
        by_name = {cache.name(p): p for p in cache.runs()}
        now = [[n, cache.signature(by_name[n])] for n in chosen or [] if n in by_name]
        if now == seen:
            raise PreventUpdate
        return now

    @app.callback(Output("accuracy", "figure"), Output("stats", "data"), Output("efficiency", "figure"),
                  Output("training", "figure"), Output("health", "figure"), Output("alerts", "children"),
                  Output("status", "children"), Output("updated", "children"),
                  Input("changed", "data"))
    def _panels(changed: list[list[Any]] | None) -> tuple:
        by_name = {cache.name(p): p for p in cache.runs()}
        views = [cache.view(by_name[n]) for n, _ in changed or [] if n in by_name]
        status = [html.Li(f"{v.name}: {v.status}", className="run-live" if v.live else "run-done") for v in views]
        return (accuracy_figure(views), stats_rows(views), efficiency_figure(views), training_figure(views),
                health_figure(views), alert_items(views), status,
                f"{len(by_name)} runs under {cache.root} · last change seen {time.strftime('%H:%M:%S')}")

    return app


def serve(runs_dir: str | Path, port: int = 8050, host: str = "127.0.0.1", refresh_s: float = 2.0) -> None:
    """Serve the dashboard until Ctrl-C."""
    create_app(runs_dir, refresh_s).run(host=host, port=port, debug=False)
