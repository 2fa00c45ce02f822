"""Documents generated from the sample crawl's prose (``fineweb_pipe.sample``): what the tests of text
stages (dedup, tokenization) run on where the real evaluation data in ../shared/data is absent."""

from __future__ import annotations

import random

from fineweb_pipe.sample.prose import OTHER_LANGUAGES, TOPICS, english_article, foreign_article


def sample_texts(count: int, seed: int = 0) -> list[str]:
    """``count`` articles: English on every sample topic (50 words and more), one in eight in another
    language (German, French, Spanish, Japanese)."""
    rng = random.Random(seed)
    topics, languages = sorted(TOPICS), sorted(OTHER_LANGUAGES)
    texts = []
    for i in range(count):
        if i % 8 == 7:
            paragraphs = foreign_article(rng, languages[i // 8 % len(languages)], rng.randint(3, 6))
        else:
            paragraphs = english_article(rng, rng.choice(topics), rng.randint(4, 8))
        texts.append("\n\n".join(paragraphs))
    return texts
