"""HTML widgets: golden pages, nothing external, accessible structure, one source of words."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from service.html import (
    CONTENT_SECURITY_POLICY,
    RENDERERS,
    render_bar_chart,
    render_counterfactual_card,
    render_notice,
    render_page,
    render_reason_list,
)
from service.people.narratives import LOCALES
from service.wire.schemas import InstanceExplanation
from tests.golden.check import assert_golden
from tests.service.people.narratives.cases import CASES, narrated

ROOT = Path(__file__).resolve().parents[2]
# Attributes and elements that make a browser fetch something.
_FETCHING_ATTRIBUTES = {
    "src", "href", "xlink:href", "srcset", "action", "formaction", "data", "poster",
    "background", "ping", "manifest", "cite", "longdesc", "usemap", "codebase", "archive",
}  # fmt: skip
_FETCHING_TAGS = {
    "script", "link", "iframe", "frame", "object", "embed", "img", "video", "audio",
    "source", "track", "base", "applet", "portal", "picture",
}  # fmt: skip
_CSS_FETCH = re.compile(r"url\s*\(|@import|image-set\s*\(|expression\s*\(", re.IGNORECASE)


class _Audit(HTMLParser):
    """Everything in a document that could load something from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag in _FETCHING_TAGS:
            self.external.append(f"<{tag}>")
        for name, value in attrs:
            if name in _FETCHING_ATTRIBUTES:
                self.external.append(f"{tag}[{name}={value}]")
            if name == "style" and value and _CSS_FETCH.search(value):
                self.external.append(f"{tag}[style={value}]")
            if name.startswith("on"):
                self.external.append(f"{tag}[{name}] (script)")
        if tag == "meta" and (found.get("http-equiv") or "").lower() == "refresh":
            self.external.append("meta refresh")
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and _CSS_FETCH.search(data):
            self.external.append(f"css: {_CSS_FETCH.search(data)}")


def _audit(page: str) -> _Audit:
    audit = _Audit()
    audit.feed(page)
    audit.close()
    return audit


def _all_pages() -> list[tuple[str, str]]:
    pages = []
    for case in CASES:
        for persona in ("end_user", "analyst", "audit"):
            for locale in LOCALES:
                e = narrated(CASES[case], persona, locale)  # type: ignore[arg-type]
                for variant in RENDERERS:
                    for theme in ("auto", "light", "dark"):
                        page = render_page([e], variant=variant, theme=theme)
                        pages.append((f"{case}-{persona}-{locale}-{variant}-{theme}", page))
    return pages


def test_no_page_loads_anything_external() -> None:
    pages = _all_pages()
    assert len(pages) == 6 * 3 * 2 * 4 * 3
    for name, page in pages:
        audit = _audit(page)
        assert audit.external == [], name
        assert "<script" not in page.lower(), name
        assert "http://" not in page, name
        assert "https://" not in page, name


def test_the_parser_would_notice_an_external_reference() -> None:
    assert _audit('<img src="https://x.example/a.png">').external
    assert _audit("<style>@import 'a.css';</style>").external
    assert _audit('<div style="background: url(a.png)"></div>').external
    assert _audit('<a href="#x">x</a>').external  # even a fragment: widgets need no links


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("case", list(CASES))
def test_end_user_notice_matches_its_golden_page(case: str, locale: str) -> None:
    e = narrated(CASES[case], "end_user", locale)  # type: ignore[arg-type]
    assert_golden(f"widgets/{case}-end_user-{locale}.html", render_page([e]) + "\n")


def test_audit_notice_matches_its_golden_page() -> None:
    e = narrated(CASES["credit"], "audit", "en")
    assert_golden("widgets/credit-audit-en.html", render_page([e], theme="light") + "\n")


def _texts(page: str) -> str:
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", page))


def test_html_and_json_say_the_same_things() -> None:
    import html

    e = narrated(CASES["hiring"], "end_user", "de")
    page = html.unescape(_texts(render_notice(e)))
    assert e.notice is not None
    for piece in [e.notice.title, e.notice.lead, *(r.text for r in e.reasons)]:
        assert piece in page
    for cf in e.counterfactuals:
        assert cf.text in page
    assert e.counterfactual_note is not None
    assert e.counterfactual_note in page


def test_the_chart_has_a_text_alternative_and_a_data_table() -> None:
    e = narrated(CASES["credit"])
    page = render_bar_chart(e, ids="w")
    assert 'role="img"' in page
    assert 'aria-labelledby="w-svg-title w-svg-desc"' in page
    assert '<title id="w-svg-title">How much each factor mattered</title>' in page
    assert '<desc id="w-svg-desc">Bar chart of the 5 factors that mattered most.' in page
    assert "<details><summary>The chart&#x27;s data</summary><table>" in page
    assert 'tabindex="0"' in page
    # The sign is never colour alone: each bar ends in a +/- mark and the table says it in words.
    assert page.count('class="bar toward raises"') == 5
    assert "pushed toward this result" in page
    assert "Age" not in page  # the protected feature's label


def test_analysts_see_numbers_end_users_do_not() -> None:
    end_user = render_bar_chart(narrated(CASES["credit"]))
    analyst = render_bar_chart(narrated(CASES["credit"], "analyst"))
    assert "+0.13" in analyst
    assert "+0.13" not in end_user


def test_under_review_every_end_user_variant_shows_the_review_message() -> None:
    e = narrated(CASES["credit_review"])
    for render in (render_reason_list, render_bar_chart, render_counterfactual_card):
        page = render(e)
        assert 'class="review" role="status"' in page
        assert "A person will review your case" in page
        assert "<ol" not in page


def _chart(bars: list[tuple[str, float]], *, toward_raises: bool = True) -> str:
    from service.people.notice import ChartBar, NoticeChart

    chart = NoticeChart(
        title="t",
        alt="a",
        toward="Toward this result",
        against="Against this result",
        bars=[ChartBar(code=label, label=label, value=v, text="w") for label, v in bars],
        show_values=False,
        table_caption="c",
        columns=["Factor", "Effect"],
        toward_raises=toward_raises,
    )
    from service.html._templates import environment

    macro = environment().get_template("widget/_chart.svg.j2").module.bar_chart  # type: ignore[attr-defined]
    return str(macro(chart, "x"))


def test_the_chart_is_never_scaled_so_its_text_keeps_its_css_size() -> None:
    # Issue 16, defect 3: a fixed 680-unit viewBox shrank 13-unit text to 5-7 px.
    page = _chart([("Income", 0.3), ("Debt", -0.1)])
    assert "viewBox" not in page
    assert 'width="100%"' in page
    from service.html.theme import CHART_TEXT_PX, stylesheet

    assert CHART_TEXT_PX >= 12
    assert f"font: {CHART_TEXT_PX}px/1 system-ui" in stylesheet()


def test_long_labels_wrap_and_a_cut_word_keeps_its_full_text() -> None:
    # Issue 16, defect 3: "ohndauer..." (German labels clipped on the left).
    from service.html._svg import WRAP, wrap_label

    label = "Dauer des bestehenden Beschäftigungsverhältnisses beim derzeitigen Arbeitgeber"
    lines = wrap_label(label)
    assert len(lines) > 1
    assert all(len(line) <= WRAP for line in lines)
    assert " ".join(lines) == label
    page = _chart([(label, 0.4)])
    for line in lines:
        assert f">{line}</text>" in page
    assert f"<title>{label}: w</title>" in page  # the whole label, beside the data table
    long_word = "Rechtsschutzversicherungsgesellschaftsbedingungen"
    assert wrap_label(long_word)[0].endswith("\u2026")
    assert len(wrap_label(long_word)[0]) == WRAP


def test_no_half_of_the_plot_stays_empty_when_every_bar_points_one_way() -> None:
    # Issue 16, defect 3: the zero line sat in the middle even with no bar on one side.
    from service.html._svg import chart_layout
    from service.people.notice import ChartBar, NoticeChart

    def layout(values: list[float]) -> tuple[float, float, float]:
        chart = NoticeChart(
            title="t", alt="a", toward="T", against="A", show_values=False,
            table_caption="c", columns=[],
            bars=[ChartBar(code=str(i), label=str(i), value=v, text="w")
                  for i, v in enumerate(values)],
        )  # fmt: skip
        at = chart_layout(chart)
        left = min(b.x for b in at.bars)
        right = max(b.x + b.width for b in at.bars)
        return at.centre, left, right

    centre, left, right = layout([0.5, 0.2])
    assert centre < 1
    assert left < 1
    assert right > 85
    centre, left, right = layout([-0.5, -0.2])
    assert centre > 99
    assert left < 15
    assert right > 99
    centre, left, right = layout([0.5, -0.5])
    assert centre == 50
    assert left < 45
    assert right > 55
    # One scale for both sides: a side that barely counts gets barely any room.
    centre, left, right = layout([0.5, 0.4, -0.02])
    assert centre < 12
    assert right > 90
    only_toward = _chart([("a", 0.5)])
    assert "Toward this result" in only_toward
    assert "Against this result" not in only_toward


def test_bar_colour_means_raised_or_lowered_the_score_not_the_side() -> None:
    # Issue 16, defect 4: orange meant "raises risk" for analysts and "toward this result"
    # for customers. Now orange (raises) is "raised the model's score" on both sides.
    declined = _chart([("Debt", 0.4), ("Income", -0.1)], toward_raises=True)
    assert 'class="bar toward raises"' in declined
    assert 'class="bar against lowers"' in declined
    approved = _chart([("Debt", 0.4), ("Income", -0.1)], toward_raises=False)
    assert 'class="bar toward lowers"' in approved
    assert 'class="bar against raises"' in approved


def test_the_counterfactual_card_says_why_when_there_are_none() -> None:
    page = render_counterfactual_card(narrated(CASES["health"]))
    assert "None of this model" in page


def test_card_text_is_escaped() -> None:
    case = CASES["general"]
    card = case.card.model_copy(
        update={
            "features": tuple(
                f.model_copy(update={"label": "<script>alert(1)</script>"}) if f.name == "a" else f
                for f in case.card.features
            )
        }
    )
    e = narrated(type(case)(**{**case.__dict__, "card": card}))
    page = render_page([e])
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_pages_declare_language_and_theme() -> None:
    e = narrated(CASES["credit"], locale="de")
    page = render_page([e], theme="dark")
    assert page.startswith('<!doctype html><html lang="de">')
    assert 'data-theme="dark"' in page
    assert "prefers-color-scheme" not in page
    assert "prefers-color-scheme: dark" in render_page([e])


def test_several_instances_get_unique_ids() -> None:
    e = narrated(CASES["credit"])
    page = render_page([e, e])
    ids = re.findall(r'id="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_a_widget_needs_a_narrated_explanation() -> None:
    bare = InstanceExplanation.model_validate(
        narrated(CASES["credit"]).model_dump() | {"notice": None}
    )
    with pytest.raises(ValueError, match="not narrated"):
        render_notice(bare)


def test_the_content_security_policy_forbids_everything_but_inline_style() -> None:
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none'; style-src 'unsafe-inline'")


def test_importing_widgets_pulls_in_no_explainer_runtime_or_service() -> None:
    # Not even the service: it serves these widgets, and a product app may embed them alone.
    code = (
        "import sys, widgets\n"
        "heavy = {'shap', 'lime', 'onnxruntime', 'sklearn', 'service', 'numpy'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_rejected_candidates_bars_and_badges_say_lowered_the_advance_score() -> None:
    # Issue 16, defect 4, through the composer: hiring_screen explains "advance"; for a
    # rejected candidate the factors toward rejection lowered that score, so they are
    # blue (lowers) beside a ▼ badge, as in the analyst chart, not orange for "toward".
    e = narrated(CASES["hiring"])
    assert e.notice is not None
    assert e.notice.chart is not None
    assert e.notice.chart.toward_raises is False
    page = render_notice(e)
    assert 'class="bar toward lowers"' in page
    assert "bar toward raises" not in page
    assert 'class="badge lowers"' in page
    assert "badge raises" not in page
    declined = render_notice(narrated(CASES["credit"]))  # explains "declined": the same side
    assert 'class="bar toward raises"' in declined
