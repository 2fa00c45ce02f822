"""The report page: sections drawn by a Jinja2 template with autoescape on, CSS embedded.

Everything on the page but the charts and the CSS is escaped by the template; the charts escape their
own labels. As a second wall, the page's Content-Security-Policy allows no script and no request at
all (styles inline, images as ``data:`` only), so even an escaping bug cannot run a script or fetch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from fineweb_pipe.report.blocks import Section
from fineweb_pipe.report.languages import LanguageStep
from fineweb_pipe.report.sections import build_sections
from fineweb_pipe.report.units import duration

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_TEMPLATES = Environment(
    loader=PackageLoader("fineweb_pipe.report", "assets"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _meta(stats: Mapping[str, Any]) -> list[str]:
    """The line under the title: what ran, how, when and for how long."""
    run = stats.get("run") or {}
    items = [f"pipeline {run['pipeline']}" if run.get("pipeline") else "",
             f"engine {run['engine']}" if run.get("engine") else "",
             f"started {run['started']}" if run.get("started") else "",
             f"wall time {duration(run['wall_s'])}" if run.get("wall_s") is not None else ""]
    return [item for item in items if item]


def render_page(stats: Mapping[str, Any], run_name: str, comparison: Section | None = None,
                language_steps: Sequence[LanguageStep] | None = ()) -> str:
    """The whole report of one run as an HTML document; ``comparison`` goes right after the funnel."""
    sections: Sequence[Section] = build_sections(stats, language_steps)
    if comparison is not None:
        sections = [sections[0], comparison, *sections[1:]]
    css = Markup(files("fineweb_pipe.report").joinpath("assets/report.css").read_text(encoding="utf-8"))
    return _TEMPLATES.get_template("report.html.j2").render(
        title=f"Dataset report · {run_name}",
        meta=_meta(stats),
        sections=sections,
        css=css,
        csp=CONTENT_SECURITY_POLICY,
    )
