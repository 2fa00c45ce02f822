"""The ablation report: ``OUT/report.html`` drawn from ``OUT/results.json`` and each run's ``stats.json``,
with the QA report's page template, stylesheet and security policy (self-contained, no script)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from markupsafe import Markup

from fineweb_pipe.ablate.charts import Band, band_chart
from fineweb_pipe.report import STATS_FILE, load_stats
from fineweb_pipe.report.blocks import Chart, Figures, Note, Section, Table
from fineweb_pipe.report.charts import FunnelRun, funnel_chart
from fineweb_pipe.report.compare import _merged
from fineweb_pipe.report.funnel import funnel_steps
from fineweb_pipe.report.render import _TEMPLATES, CONTENT_SECURITY_POLICY
from fineweb_pipe.report.units import compact, count, size
from fineweb_pipe.storage import local_staging

REPORT_FILE = "report.html"
Results = Mapping[str, Any]


def _label(metric: str) -> str:
    """``heldout/wikitext/bpb`` -> ``wikitext bpb``; ``val/bpb`` -> ``own val bpb``."""
    parts = metric.split("/")
    return "own val " + parts[-1] if parts[0] == "val" else " ".join(parts[1:]).replace("_", " ")


def _shown(results: Results) -> list[str]:
    first = next(iter(results["final"].values()))
    return [m for m in first if not m.endswith("/accuracy")]


def verdict_section(results: Results) -> Section:
    plan, names = results["plan"], results["plan"]["names"]
    model = plan["model"]
    figures = Figures([
        ("tokens per run", compact(results["trained_tokens"])),
        ("steps", count(results["steps"])),
        ("model", f"{compact(results['parameters'])} parameters"),
        ("seeds per variant", str(plan["seeds"])),
        ("vocabulary", count(results["tokenizer"]["vocab_size"])),
    ])
    shape = (f"{model['n_layer']} layers, width {model['d_model']}, {model['n_head']} heads, windows of "
             f"{model['seq_len']} tokens, {model['batch_size']} per step, peak learning rate {model['lr']}")
    notes = [Note(v) for v in results["verdicts"]]
    return Section("verdict", "Verdict", [figures, *notes, Note(
        f"Every variant ({', '.join(names)}) trained the same model ({shape}) on the same number of tokens with "
        f"the same tokenizer, once per seed; a seed sets the initialization and the data order. Each later "
        f"variant is judged against {names[0]}.")])


def results_section(results: Results) -> Section:
    names, shown = results["plan"]["names"], _shown(results)
    epochs = {v["name"]: v["epochs"] for v in results["variants"]}
    final = results["final"]
    rows = [[name, f"{epochs[name]:.2f}", *(f"{final[name][m]['mean']:.4f} ± {final[name][m]['std']:.4f}" for m in shown)]
            for name in names]
    ranges = [[name, *(f"{final[name][m]['min']:.4f}–{final[name][m]['max']:.4f}" for m in shown)] for name in names]
    return Section("results", "Final scores", [
        Table(["variant", "epochs", *map(_label, shown)], rows,
              caption=f"Mean ± sample standard deviation over {results['plan']['seeds']} seeds, at the end of training"),
        Table(["variant", *map(_label, shown)], ranges, caption="Range over the seeds (lowest–highest)"),
        Note("bits per byte: the text's negative log-likelihood in bits per UTF-8 byte (lower is better; "
             "tokenizer-independent). Own val: each variant's held-out split of its own documents, which differ "
             "between variants: compare variants on the held-out sets. accuracy per byte: multiple-choice "
             "accuracy choosing by log-likelihood per byte of each choice (higher is better)."),
    ])


def curves_section(results: Results) -> Section:
    names = results["plan"]["names"]
    blocks: list[Chart | Note] = []
    for metric in [m for m in _shown(results) if m.endswith("/bpb") or m.endswith("/loss")]:
        bands = [Band(name, [p["tokens"] for p in results["curves"][name][metric]],
                      [p["mean"] for p in results["curves"][name][metric]],
                      [p["min"] for p in results["curves"][name][metric]],
                      [p["max"] for p in results["curves"][name][metric]]) for name in names]
        numbers = Table(["variant", "tokens", "mean", "lowest seed", "highest seed"],
                        [[name, count(p["tokens"]), f"{p['mean']:.4f}", f"{p['min']:.4f}", f"{p['max']:.4f}"]
                         for name in names for p in results["curves"][name][metric]])
        blocks.append(Chart(band_chart(bands, title=_label(metric), x_label="training tokens", y_label=_label(metric)),
                            f"{_label(metric)} along training: the mean of the seeds, shaded between the lowest "
                            "and the highest seed", numbers))
    return Section("curves", "Along training", blocks)


def data_section(results: Results) -> Section:
    rows = [[v["name"], v["run"], count(v["documents"]), count(v["train_tokens"]), count(v["val_tokens"]),
             f"{v['epochs']:.2f}", size(v["tokenizer_sample_bytes"])] for v in results["variants"]]
    repeated = [f"{v['name']} ({v['epochs']:.2f} epochs)" for v in results["variants"] if v["epochs"] > 1]
    heldout = [[name, size(h["bytes"]), count(h["tokens"])] for name, h in results["heldout"].items()]
    heldout += [[name, "—", f"{count(c['questions'])} questions"] for name, c in results["choices"].items()]
    return Section("data", "Data per variant", [
        Table(["variant", "run", "documents", "train tokens", "own val tokens", "epochs", "tokenizer sample"], rows,
              text_columns=2),
        Note(("Shorter than the budget, read more than once: " + ", ".join(repeated) + ". Repeated data can "
              "flatter a small variant's own validation loss; the held-out sets are not repeated.") if repeated
             else "Every variant holds at least the budget: no data was repeated."),
        Table(["held-out evaluation", "text", "tokens scored"], heldout),
    ])


def funnel_section(results: Results) -> Section:
    names, runs = results["plan"]["names"], results["plan"]["runs"]
    missing = [run for run in runs if not os.path.exists(os.path.join(run, STATS_FILE))]
    if missing:
        return Section("funnels", "The datasets' funnels", missing=f"no {STATS_FILE} in {', '.join(missing)}")
    steps = [{step.name: step for step in funnel_steps(load_stats(Path(run)))} for run in runs]
    order: list[str] = []
    for per_run in steps:
        order = _merged(order, list(per_run))
    chart = funnel_chart(order, [FunnelRun(name, [s[n].docs if n in s else None for n in order])
                                 for name, s in zip(names, steps)], title="Funnels of the variants")
    rows = [[n, *(count(s[n].docs) if n in s else "—" for s in steps)] for n in order]
    return Section("funnels", "The datasets' funnels", [
        Chart(chart, "Documents left after each step of each variant's pipeline (from its stats.json); a step "
                     "a pipeline does not have is marked absent."),
        Table(["step", *names], rows),
    ])


def settings_section(results: Results) -> Section:
    plan = results["plan"]
    rows = [[key, json.dumps(value)] for key, value in plan.items() if key != "model"]
    rows += [[f"model.{key}", json.dumps(value)] for key, value in plan["model"].items()]
    return Section("settings", "Settings", [Table(["setting", "value"], rows, text_columns=2)])


def render(results: Results) -> str:
    sections: Sequence[Section] = [verdict_section(results), results_section(results), curves_section(results),
                                   data_section(results), funnel_section(results), settings_section(results)]
    css = Markup(files("fineweb_pipe.report").joinpath("assets/report.css").read_text(encoding="utf-8"))
    names = results["plan"]["names"]
    return _TEMPLATES.get_template("report.html.j2").render(
        title=f"Ablation report · {' vs '.join(names)}",
        meta=[f"{compact(results['trained_tokens'])} tokens per run", f"{results['plan']['seeds']} seeds",
              f"{compact(results['parameters'])} parameters"],
        sections=sections, css=css, csp=CONTENT_SECURITY_POLICY)


def write_report(results: Results, out: str) -> str:
    path = os.path.join(out, REPORT_FILE)
    with local_staging(path) as tmp, open(tmp, "w", encoding="utf-8", errors="replace") as f:
        f.write(render(results))
    return path
