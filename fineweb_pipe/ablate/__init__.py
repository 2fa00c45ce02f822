"""``fineweb-pipe ablate``: train the same small model on the same token budget of two or more datasets,
several seeds each, and compare them on held-out text (bits per byte) and multiple-choice sets.

Modules, in the order an ablation runs: ``plan`` (the settings, saved for resume), ``corpus`` (reading runs
and held-out texts), ``variants`` (one tokenizer, each run's token shards), ``runs`` (training in segments
with evaluations between them), ``scoring`` (loss and bits per byte), ``choices`` (multiple-choice
accuracy), ``summary`` (means, spreads, verdicts), ``report`` and ``charts`` (the HTML report), ``cli``.
Only ``plan`` and ``cli`` import without torch.
"""
