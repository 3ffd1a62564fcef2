"""The templates behind service/html: shipped as package data, escaped, compacted, and fed
by attribute only (wire models, frozen dataclasses and fakes render alike)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from markupsafe import Markup

from service.html import RENDERERS, Variant, render_page
from service.html._templates import compact, environment, render
from service.people.narratives import Persona
from service.wire.schemas import InstanceExplanation
from tests.service.people.narratives.cases import CASES, narrated

ROOT = Path(__file__).resolve().parents[3]
HTML = ROOT / "service" / "html"
HOSTILE = "<script>alert('x')</script> & \"q\""
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"


@dataclass(frozen=True)
class FakeReason:
    contribution: float
    direction: str


@dataclass(frozen=True)
class FakeTable:
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class FakeSection:
    kind: str
    heading: str | None = None
    paragraphs: Sequence[str] = ()
    items: Sequence[str] = ()
    table: FakeTable | None = None


@dataclass(frozen=True)
class FakeBar:
    label: str
    value: float
    text: str
    shown: str = ""


@dataclass(frozen=True)
class FakeChart:
    title: str
    alt: str
    toward: str
    against: str
    bars: Sequence[FakeBar]
    show_values: bool
    table_caption: str
    columns: Sequence[str]
    toward_raises: bool = True


@dataclass(frozen=True)
class FakeNotice:
    template_version: str
    locale: str
    persona: str
    title: str
    lead: str
    sections: Sequence[FakeSection] = ()
    chart: FakeChart | None = None


@dataclass(frozen=True)
class FakeExplained:
    notice: FakeNotice | None
    reasons: Sequence[FakeReason] = ()
    counterfactual_note: str | None = None


def _as_dataclasses(e: InstanceExplanation) -> FakeExplained:
    """The same explanation as frozen dataclasses with tuples, read attribute by attribute."""
    n = e.notice
    assert n is not None
    chart = n.chart
    return FakeExplained(
        notice=FakeNotice(
            template_version=n.template_version,
            locale=n.locale,
            persona=n.persona,
            title=n.title,
            lead=n.lead,
            sections=tuple(
                FakeSection(
                    kind=s.kind,
                    heading=s.heading,
                    paragraphs=tuple(s.paragraphs),
                    items=tuple(s.items),
                    table=None
                    if s.table is None
                    else FakeTable(tuple(s.table.columns), tuple(map(tuple, s.table.rows))),
                )
                for s in n.sections
            ),
            chart=None
            if chart is None
            else FakeChart(
                title=chart.title,
                alt=chart.alt,
                toward=chart.toward,
                against=chart.against,
                bars=tuple(FakeBar(b.label, b.value, b.text, b.shown) for b in chart.bars),
                show_values=chart.show_values,
                table_caption=chart.table_caption,
                columns=tuple(chart.columns),
                toward_raises=chart.toward_raises,
            ),
        ),
        reasons=tuple(FakeReason(r.contribution, r.direction) for r in e.reasons),
        counterfactual_note=e.counterfactual_note,
    )


def _hostile(persona: str = "end_user", review: bool = False) -> FakeExplained:
    sections = [
        FakeSection("reasons", HOSTILE, (HOSTILE,), (HOSTILE, HOSTILE)),
        FakeSection("counterfactuals", HOSTILE, (HOSTILE,), (HOSTILE,)),
        FakeSection(HOSTILE, HOSTILE, (HOSTILE,), (HOSTILE,), FakeTable((HOSTILE,), ((HOSTILE,),))),
    ]
    if review:
        sections.insert(0, FakeSection("review", HOSTILE, (HOSTILE,)))
    chart = FakeChart(
        title=HOSTILE,
        alt=HOSTILE,
        toward=HOSTILE,
        against=HOSTILE,
        bars=(FakeBar(HOSTILE, 0.5, HOSTILE, HOSTILE), FakeBar(HOSTILE, -0.25, HOSTILE, HOSTILE)),
        show_values=persona != "end_user",
        table_caption=HOSTILE,
        columns=(HOSTILE, HOSTILE, HOSTILE),
    )
    notice = FakeNotice(HOSTILE, HOSTILE, persona, HOSTILE, HOSTILE, tuple(sections), chart)
    return FakeExplained(notice, (FakeReason(0.5, "raises"), FakeReason(-0.25, "lowers")), HOSTILE)


@pytest.mark.parametrize("variant", list(RENDERERS))
@pytest.mark.parametrize(("persona", "review"), [("end_user", False), ("analyst", True)])
def test_hostile_notice_text_is_escaped_everywhere(
    variant: Variant, persona: str, review: bool
) -> None:
    e = _hostile(persona, review)
    for html in (RENDERERS[variant](e, ids="w"), render_page([e], variant=variant, title=HOSTILE)):
        assert "<script" not in html
        assert "alert('x')" not in html
        assert '"q"' not in html
        assert ESCAPED in html
    fragment = RENDERERS[variant](e, ids="w")
    # In attribute values too: the quote cannot end the attribute.
    assert f'lang="{ESCAPED}"' in fragment
    assert f'data-template-version="{ESCAPED}"' in fragment


def test_a_hostile_reason_text_comes_out_as_text() -> None:
    fake = _as_dataclasses(narrated(CASES["credit"]))
    assert fake.notice is not None
    sections = tuple(
        replace(s, items=("<script>alert(1)</script>", *s.items[1:])) if s.kind == "reasons" else s
        for s in fake.notice.sections
    )
    e = replace(fake, notice=replace(fake.notice, sections=sections))
    page = render_page([e], variant="reasons")
    assert "<span>&lt;script&gt;alert(1)&lt;/script&gt;</span>" in page
    assert "<script>" not in page


@pytest.mark.parametrize("persona", ["end_user", "analyst", "audit"])
@pytest.mark.parametrize("case", list(CASES))
def test_frozen_dataclasses_render_the_same_bytes_as_wire_models(
    case: str, persona: Persona
) -> None:
    e = narrated(CASES[case], persona)
    fake = _as_dataclasses(e)
    for variant, render_widget in RENDERERS.items():
        assert render_widget(fake, ids="x") == render_widget(e, ids="x"), variant
    assert render_page([fake, fake]) == render_page([e, e])


def test_the_templates_ship_as_package_data() -> None:
    shipped = files("service.html") / "templates"
    assert shipped.is_dir()
    names = environment().list_templates()
    assert {"widget/page.html.j2", "casepacket.html.j2", "casepacket.css"} <= set(names)
    for name in names:
        assert shipped.joinpath(*name.split("/")).is_file(), name
    # pyproject's package-data globs cover every template (or a wheel would lack it).
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["service.html"]
    covered = {p.relative_to(HTML / "templates").as_posix() for g in globs for p in HTML.glob(g)}
    on_disk = {
        p.relative_to(HTML / "templates").as_posix()
        for p in (HTML / "templates").rglob("*")
        if p.is_file()
    }
    assert on_disk == covered == set(names)


def test_the_environment_escapes_like_html_escape_and_lets_markup_pass() -> None:
    env = environment()
    assert env.autoescape is True
    template = env.from_string("{{ text }}|{{ markup }}|{{ number }}")
    page = template.render(text="<'\"&>", markup=Markup("<b>"), number=3)
    assert page == "&lt;&#x27;&quot;&amp;&gt;|<b>|3"  # html.escape's entities, as before


def test_an_undefined_name_is_an_error() -> None:
    with pytest.raises(UndefinedError):
        environment().from_string("<p>{{ missing }}</p>").render()
    with pytest.raises(UndefinedError):
        render("widget/page.html.j2", theme="auto", body="")


def test_the_environment_is_built_on_first_use_not_at_import() -> None:
    code = (
        "import service.html\n"
        "from service.html._templates import environment\n"
        "print(environment.cache_info().currsize)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "0", out.stdout + out.stderr


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("<ul>\n  <li>a</li>\n</ul>\n", "<ul><li>a</li></ul>"),
        ('<a class="x"\n    id="y">', '<a class="x" id="y">'),  # attributes on several lines
        ("one\n  two", "one two"),  # a line break inside text is a space
        ("text\n  <b>", "text<b>"),
        ("</b>\n  text", "</b>text"),
        ("  \n\n  ", ""),
        ("a b  c", "a b  c"),  # only line breaks are touched
        ("\u00a0\n\u00a0", "\u00a0 \u00a0"),
    ],
)
def test_template_text_is_compacted(template: str, rendered: str) -> None:
    assert compact(template) == rendered


def test_only_template_text_is_compacted_never_a_value() -> None:
    e = FakeExplained(FakeNotice("1", "en", "end_user", "a\n  b", "c\n\nd"))
    html = RENDERERS["notice"](e, ids="w")
    assert '<h1 id="w-title">a\n  b</h1><p class="lead">c\n\nd</p>' in html


def test_service_html_imports_nothing_else_of_the_service() -> None:
    allowed = set(sys.stdlib_module_names) | {"jinja2", "markupsafe", "service"}
    for path in HTML.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, (path.name, name)
                if name.startswith("service"):
                    assert name.startswith("service.html"), (path.name, name)
    for path in HTML.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".j2"}:
            text = path.read_text(encoding="utf-8")
            for word in (".model_dump", ".model_copy", ".model_validate"):
                assert word not in text, (path.name, word)
