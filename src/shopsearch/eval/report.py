"""An evaluation report directory: a markdown table, per-query wins and losses
against the keyword baseline, and PNG plots."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Sequence

from .evaluator import METRICS, EvalRun, wins_and_losses


def markdown_table(runs: Sequence[EvalRun], baseline: EvalRun) -> str:
    base = baseline.means()
    lines = [
        "| configuration | queries | " + " | ".join(METRICS) + " | Δ nDCG@10 vs keyword |",
        "|---|---:|" + "---:|" * len(METRICS) + "---:|",
    ]
    for run in runs:
        s = run.means()
        delta = (s["ndcg@10"] / base["ndcg@10"] - 1) * 100 if base["ndcg@10"] else 0.0
        cells = " | ".join(f"{s[m]:.4f}" for m in METRICS)
        lines.append(f"| {run.name} | {len(run.per_query)} | {cells} | {delta:+.1f}% |")
    return "\n".join(lines)


def write_report(directory: str | Path, runs: Sequence[EvalRun], baseline: EvalRun, title: str = "Relevance report") -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shown = [baseline, *[r for r in runs if r is not baseline]]
    parts = [f"# {title}", "", f"nDCG gain: {baseline.gain}. {len(baseline.per_query)} queries with a relevant judgment "
             f"are averaged; {baseline.uninformative} with none are left out (they score 0 for every system).", "",
             markdown_table(shown, baseline), "",
             "judged@10 is the share of the top 10 that has a judgment at all: with judgments pooled from "
             "keyword search, unjudged hits count as irrelevant, which understates other retrievers.", ""]
    for run in shown[1:]:
        wins, losses = wins_and_losses(run, baseline)
        parts += [f"## {run.name}: per-query nDCG@10 against {baseline.name}", "",
                  f"{len(wins)} wins, {len(losses)} losses (|Δ| > 0.01), "
                  f"{len(run.per_query) - len(wins) - len(losses)} ties.", ""]
        for label, rows in (("Wins", wins[:15]), ("Losses", losses[:15])):
            if rows:
                parts += [f"{label}:", "", "| query | Δ nDCG@10 |", "|---|---:|"]
                parts += [f"| {q} | {d:+.3f} |" for q, d in rows] + [""]
    written = [directory / "report.md", directory / "results.json"]
    written[0].write_text("\n".join(parts), encoding="utf-8")
    written[1].write_text(json.dumps(
        [{"name": r.name, "params": r.params, "summary": r.summary(), "per_query": r.per_query} for r in shown],
        ensure_ascii=False, indent=1), encoding="utf-8")
    written.append(directory / "metrics.png")
    written[-1].write_bytes(metrics_plot(shown))
    return written


def metrics_plot(runs: Sequence[EvalRun]) -> bytes:
    """A PNG bar chart of every metric per configuration (needs matplotlib: shopsearch[eval])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [r.name for r in runs]
    summaries = [r.means() for r in runs]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(runs) + 2), 4.2))
    width = 0.8 / len(METRICS)
    x = np.arange(len(runs))
    for i, metric in enumerate(METRICS):
        ax.bar(x + i * width - 0.4 + width / 2, [s[metric] for s in summaries], width, label=metric)
    ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean over queries")
    ax.set_title("Metrics per configuration")
    ax.legend(fontsize=8, ncols=len(METRICS), loc="upper center", bbox_to_anchor=(0.5, -0.28))
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out.getvalue()
