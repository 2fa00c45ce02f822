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


#: Sentences in other scripts, with the digits, punctuation and whitespace where byte-level BPE
#: pre-tokenizers (HF's Oniguruma regex, tiktoken's fancy-regex) could part ways.
SCRIPT_SENTENCES = [
    "Москва — столица России, в ней живёт около {n} человек.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας· έχει {n} κατοίκους.",
    "القاهرة هي عاصمة مصر، ويبلغ عدد سكانها {n} نسمة تقريبًا.",
    "ירושלים היא עיר עתיקה, ויש בה {n} תושבים.",
    "नई दिल्ली भारत की राजधानी है और इसकी आबादी {n} है।",
    "北京是中国的首都，人口约为{n}人。",
    "서울은 대한민국의 수도이며 인구는 약 {n}명입니다.",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย มีประชากร {n} คน",
    "東京の人口は約{n}人で、世界有数の大都市です。",
    "Tiếng Việt có dấu: Hà Nội là thủ đô, dân số khoảng {n} người.",
    "Türkçe: İstanbul'un nüfusu {n} kişidir; çok güzel bir şehir!",
    "Polski: Zażółć gęślą jaźń — {n} złotych.",
    "Eesti: Tallinnas elab {n} inimest; öö on pikk ja külm.",
    "ქართული ენა: თბილისში ცხოვრობს {n} ადამიანი.",
    "Հայերեն՝ Երևանում ապրում է {n} մարդ։",
    "አዲስ አበባ የኢትዮጵያ ዋና ከተማ ናት፤ {n} ሰዎች ይኖራሉ።",
    "தமிழ்: சென்னையில் {n} மக்கள் வாழ்கின்றனர்.",
    "Combining marks: e\u0301te\u0301, n\u0303, a\u0308 and Hangul jamo \u1100\u1161 beside {n}.",
    "Emoji 👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 cost {n} bytes; so does 😀😀😀!!!",
    "Prices: $1,234.56, €{n}, ¥100,000 and 3.14159e-10 — or 1/3, ½, ² and ⅞.",
    "Contractions: it's, I'M, they'Re, we'VE, you'll, she'd, DON'T and O'Neil's {n}.",
    "Whitespace:\ttabs\t\tand  double  spaces,\r\nCRLF,\n\n\nblank lines and trailing spaces   \n{n}",
    "Code: for (int i = 0; i < {n}; ++i) { x[i] += y[i] * 2; } // done",
    "URLs and mail: https://example.org/path?q={n}&lang=en#top, mailto:a.b@example.com",
    "Punctuation runs: ...!!!???---___***@@@### ((([[[{{{ }}}]]]))) «quotes» „Anführung“ “curly” {n}",
    "Digits: 1 12 123 1234 12345 123456 {n} ١٢٣ ४५६ ৭৮৯ 十二",
]


def script_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` sentences from :data:`SCRIPT_SENTENCES`, each with a different number in place of ``{n}``."""
    rng = random.Random(seed)
    return [SCRIPT_SENTENCES[i % len(SCRIPT_SENTENCES)].replace("{n}", f"{rng.randint(0, 10 ** rng.randint(1, 9)):,}")
            for i in range(count)]
