"""Two runs side by side: the funnel and the removal reasons, what a user reads after changing a threshold.

Steps are matched by name; a step only one run has shows ``—`` for the other. The order is run A's,
with run B's extra steps after them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fineweb_pipe.report.blocks import Chart, Figures, Note, Section, Table
from fineweb_pipe.report.charts import Series, funnel_chart
from fineweb_pipe.report.funnel import Step, funnel_steps
from fineweb_pipe.report.units import count, share

Stats = Mapping[str, Any]


def _signed(delta: int) -> str:
    return f"+{delta:,}" if delta > 0 else f"{delta:,}" if delta else "0"


def _reasons(stats: Stats) -> dict[tuple[str, str], int]:
    return {(str(stage.get("name")), str(reason)): n
            for stage in stats.get("stages") or [] for reason, n in (stage.get("dropped") or {}).items()}


def compare_section(stats_a: Stats, stats_b: Stats, name_a: str, name_b: str) -> Section:
    steps_a = {step.name: step for step in funnel_steps(stats_a)}
    steps_b = {step.name: step for step in funnel_steps(stats_b)}
    names = list(steps_a) + [name for name in steps_b if name not in steps_a]
    absent = Step("", "", 0, 0, None, 0)

    def docs(steps: dict[str, Step], name: str) -> str:
        return count(steps[name].docs) if name in steps else "—"

    def removed_here(steps: dict[str, Step], name: str) -> str:
        return share(steps[name].removed, steps[name].docs_before) if name in steps else "—"

    funnel_rows = []
    for name in names:
        a, b = steps_a.get(name, absent), steps_b.get(name, absent)
        funnel_rows.append([name, docs(steps_a, name), docs(steps_b, name), _signed(b.docs - a.docs),
                            removed_here(steps_a, name), removed_here(steps_b, name)])
    chart = funnel_chart(names, [Series(name_a, [steps_a.get(n, absent).docs for n in names]),
                                 Series(name_b, [steps_b.get(n, absent).docs for n in names])],
                         title=f"Funnel: {name_a} and {name_b}")
    reasons_a, reasons_b = _reasons(stats_a), _reasons(stats_b)
    reason_keys = list(reasons_a) + [key for key in reasons_b if key not in reasons_a]
    reason_rows = [[stage, reason, count(reasons_a.get((stage, reason), 0)), count(reasons_b.get((stage, reason), 0)),
                    _signed(reasons_b.get((stage, reason), 0) - reasons_a.get((stage, reason), 0))]
                   for stage, reason in reason_keys]
    last_a, last_b = list(steps_a.values())[-1], list(steps_b.values())[-1]
    first_a, first_b = list(steps_a.values())[0], list(steps_b.values())[0]
    return Section("compare", f"Compared with {name_b}", [
        Figures([(f"kept · {name_a}", f"{count(last_a.docs)} ({share(last_a.docs, first_a.docs)})"),
                 (f"kept · {name_b}", f"{count(last_b.docs)} ({share(last_b.docs, first_b.docs)})"),
                 ("difference", _signed(last_b.docs - last_a.docs))]),
        Chart(chart, f"Documents left after each step: {name_a} (left) and {name_b} (right)."),
        Table(["step", f"documents · {name_a}", f"documents · {name_b}", "difference",
               f"removed here · {name_a}", f"removed here · {name_b}"], funnel_rows),
        Table(["filter", "reason", name_a, name_b, "difference"], reason_rows,
              caption="Documents removed, by reason", text_columns=2),
        Note("Differences are the second run minus this one."),
    ])
