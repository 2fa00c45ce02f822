"""A whole ablation into one folder, resumable at every step:

    OUT/plan.json                      the settings (a rerun must match them)
    OUT/tokenizer.json                 the shared tokenizer (trained unless given)
    OUT/variants/NAME/                 each variant's token shards, manifest.json and variant.json
    OUT/runs/NAME/seed-K/              checkpoint.pt, evals.jsonl (scores per evaluation), train.log
    OUT/results.json, OUT/report.html  the summary and the report
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from fineweb_pipe.ablate.choices import encode_questions, load_questions
from fineweb_pipe.ablate.corpus import document_files, eval_name, eval_texts
from fineweb_pipe.ablate.plan import Plan, check_or_save
from fineweb_pipe.ablate.runs import Evaluations, run_seed
from fineweb_pipe.ablate.scoring import TokenStream
from fineweb_pipe.ablate.summary import curves, final_spreads, table_lines, verdicts
from fineweb_pipe.ablate.variants import load_encoder, prepare_variants
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.storage import write_json
from fineweb_pipe.tokens.tokenizer import ENDOFTEXT, Encoder
from fineweb_pipe.training.config import GPTConfig

RESULTS_FILE = "results.json"


def unique_names(paths: tuple[str, ...], what: str) -> list[str]:
    names = [eval_name(p) for p in paths]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"two {what} sets have the same name ({names}): rename one of the files")
    return names


def load_evaluations(plan: Plan, encoder: Encoder) -> Evaluations:
    delimiter = encoder.token_id(ENDOFTEXT)
    heldout = {name: TokenStream.encode(encoder, eval_texts(path, plan.eval_bytes), delimiter)
               for name, path in zip(unique_names(plan.evals, "--eval"), plan.evals)}
    for name, stream in heldout.items():
        if stream.text_bytes == 0:
            raise ConfigurationError(f"--eval {name}: holds no text")
    choices = {name: encode_questions(encoder, load_questions(path), delimiter)
               for name, path in zip(unique_names(plan.choice_evals, "--choices"), plan.choice_evals)}
    return Evaluations(heldout, choices)


def parameter_count(plan: Plan, vocab_size: int) -> int:
    from fineweb_pipe.training.model import GPT

    model = plan.model
    return GPT(GPTConfig(vocab_size, model.seq_len, model.n_layer, model.n_head, model.d_model)).parameter_count()


def run_ablation(plan: Plan, out: str) -> dict[str, Any]:
    """Run (or resume) the ablation ``plan`` into ``out``; returns what ``results.json`` holds."""
    for run in plan.runs:  # before anything is written: a wrong path is one message, not a half-made folder
        document_files(run)
    check_or_save(plan, out)
    tokenizer_path, variants = prepare_variants(plan, out)
    encoder = load_encoder(tokenizer_path)
    evaluations = load_evaluations(plan, encoder)
    runs = {v.name: [run_seed(plan, v, seed, os.path.join(out, "runs", os.path.basename(v.tokens_folder),
                                                            f"seed-{seed}"), evaluations)
                     for seed in range(plan.seeds)] for v in variants}
    finals = {name: final_spreads(records) for name, records in runs.items()}
    epochs = {v.name: v.epochs(plan.trained_tokens) for v in variants}
    results = {
        "plan": plan.to_json(),
        "tokenizer": {"path": tokenizer_path, "vocab_size": encoder.vocab_size},
        "parameters": parameter_count(plan, encoder.vocab_size),
        "steps": plan.steps, "trained_tokens": plan.trained_tokens,
        "variants": [{**asdict(v), "epochs": epochs[v.name]} for v in variants],
        "heldout": {name: {"bytes": s.text_bytes, "tokens": s.scored_tokens} for name, s in evaluations.heldout.items()},
        "choices": {name: {"questions": len(q)} for name, q in evaluations.choices.items()},
        "final": {name: {m: s.to_json() for m, s in spreads.items()} for name, spreads in finals.items()},
        "curves": {name: curves(records) for name, records in runs.items()},
        "tokens_per_s": {name: [r.get("tokens_per_s") for seed in records for r in seed] for name, records in runs.items()},
        "verdicts": verdicts(plan.names, finals),
        "table": table_lines(plan.names, epochs, finals),
    }
    write_json(results, os.path.join(out, RESULTS_FILE))
    return results
