"""Two runs side by side: the funnel and the removal reasons, what a user reads after changing a threshold.

Steps are matched by name; a step only one run has is absent from the other, shown as ``—`` in the
tables and as "absent" in the chart, never as zero documents. A step only run B has goes after the step
before it in run B.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fineweb_pipe.report.blocks import Chart, Figures, Note, Section, Table
from fineweb_pipe.report.charts import FunnelRun, funnel_chart
from fineweb_pipe.report.funnel import Step, funnel_steps
from fineweb_pipe.report.units import count, share

Stats = Mapping[str, Any]
ABSENT = "—"


def _signed(delta: int) -> str:
    return f"+{delta:,}" if delta > 0 else f"{delta:,}" if delta else "0"


def _difference(a: int | None, b: int | None) -> str:
    return ABSENT if a is None or b is None else _signed(b - a)


def _reasons(stats: Stats) -> dict[tuple[str, str], int]:
    return {(str(stage.get("name")), str(reason)): n
            for stage in stats.get("stages") or [] for reason, n in (stage.get("dropped") or {}).items()}


def _merged(names_a: list[str], names_b: list[str]) -> list[str]:
    """Run A's step names, with each of run B's others inserted after the step before it in run B."""
    names = list(names_a)
    for i, name in enumerate(names_b):
        if name not in names:
            names.insert(names.index(names_b[i - 1]) + 1 if i else 0, name)
    return names


def compare_section(stats_a: Stats, stats_b: Stats, name_a: str, name_b: str) -> Section:
    steps_a = {step.name: step for step in funnel_steps(stats_a)}
    steps_b = {step.name: step for step in funnel_steps(stats_b)}
    names = _merged(list(steps_a), list(steps_b))

    def docs(steps: dict[str, Step], name: str) -> int | None:
        return steps[name].docs if name in steps else None

    def removed_here(steps: dict[str, Step], name: str) -> str:
        return share(steps[name].removed, steps[name].docs_before) if name in steps else ABSENT

    funnel_rows = [[name, count(docs(steps_a, name)), count(docs(steps_b, name)),
                    _difference(docs(steps_a, name), docs(steps_b, name)),
                    removed_here(steps_a, name), removed_here(steps_b, name)] for name in names]
    chart = funnel_chart(names, [FunnelRun(name_a, [docs(steps_a, n) for n in names]),
                                 FunnelRun(name_b, [docs(steps_b, n) for n in names])],
                         title=f"Funnel: {name_a} and {name_b}")
    stages_a = {str(s.get("name")) for s in stats_a.get("stages") or []}
    stages_b = {str(s.get("name")) for s in stats_b.get("stages") or []}
    reasons_a, reasons_b = _reasons(stats_a), _reasons(stats_b)
    reason_rows = []
    for stage, reason in list(reasons_a) + [key for key in reasons_b if key not in reasons_a]:
        a = reasons_a.get((stage, reason), 0) if stage in stages_a else None
        b = reasons_b.get((stage, reason), 0) if stage in stages_b else None
        reason_rows.append([stage, reason, count(a), count(b), _difference(a, b)])
    last_a, last_b = list(steps_a.values())[-1], list(steps_b.values())[-1]
    first_a, first_b = list(steps_a.values())[0], list(steps_b.values())[0]
    return Section("compare", f"Compared with {name_b}", [
        Figures([(f"kept · {name_a}", f"{count(last_a.docs)} ({share(last_a.docs, first_a.docs)})"),
                 (f"kept · {name_b}", f"{count(last_b.docs)} ({share(last_b.docs, first_b.docs)})"),
                 ("difference", _signed(last_b.docs - last_a.docs))]),
        Chart(chart, f"Documents left after each step: {name_a} (left) and {name_b} (right); "
                     "a step one run does not have is marked absent."),
        Table(["step", f"documents · {name_a}", f"documents · {name_b}", "difference",
               f"removed here · {name_a}", f"removed here · {name_b}"], funnel_rows),
        Table(["filter", "reason", name_a, name_b, "difference"], reason_rows,
              caption="Documents removed, by reason", text_columns=2),
        Note(f"Differences are the second run minus this one; {ABSENT}: the run has no such step."),
    ])
