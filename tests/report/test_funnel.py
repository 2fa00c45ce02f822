from typing import Any

from fineweb_pipe.report.funnel import INPUT_STEP, funnel_steps


def test_steps_follow_the_reader_then_each_stage(stats: dict[str, Any]) -> None:
    steps = funnel_steps(stats)
    assert [s.name for s in steps[:3]] == [INPUT_STEP, "url_filter", "trafilatura_extract"]
    assert steps[0].docs == 12000 and steps[1].docs == 11742 and steps[1].removed == 258
    assert steps[1].docs_before == 12000


def test_the_tokenizer_counter_gives_the_tokens(stats: dict[str, Any]) -> None:
    steps = funnel_steps(stats)
    assert steps[-1].tokens == 4_218_655
    assert all(s.tokens is None for s in steps[:-1])


def test_without_a_counter_the_token_totals_go_on_the_last_step(stats: dict[str, Any]) -> None:
    del stats["stages"][-1]["counters"]["tokens"]
    assert funnel_steps(stats)[-1].tokens == 4_006_775 + 211_880


def test_untokenized_run_has_no_tokens(stats: dict[str, Any]) -> None:
    del stats["sections"]["tokens"]
    stats["stages"].pop()
    assert all(s.tokens is None for s in funnel_steps(stats))
