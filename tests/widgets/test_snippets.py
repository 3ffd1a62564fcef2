"""Share a preview: the explain call as curl and Python, and the widget as an iframe."""

from __future__ import annotations

import ast
import html
import json
import re
import shlex

from widgets.snippets import curl, embed, explain_body, python

INSTANCE = {"checking_account": "no checking account", "duration_months": 24,
            "note": "it's \"quoted\" & <b>", "rate": 2.5, "flag": True}  # fmt: skip


def _body(widget: str | None = "notice") -> dict[str, object]:
    return explain_body(
        INSTANCE, method="auto", persona="end_user", locale="de", counterfactuals=2, widget=widget
    )


def test_the_body_asks_for_the_page_only_with_a_widget() -> None:
    assert _body() == {
        "instances": [INSTANCE],
        "method": "auto",
        "persona": "end_user",
        "locale": "de",
        "counterfactuals": 2,
        "format": "html",
        "widget": "notice",
        "theme": "light",
    }
    assert "format" not in _body(None)


def test_curl_sends_exactly_the_body_whatever_its_quotes() -> None:
    command = curl("http://127.0.0.1:8000/", "german_credit", _body())
    words = shlex.split(command.replace("\\\n", " "))
    assert words[4] == "http://127.0.0.1:8000/v1/models/german_credit/explain"
    assert json.loads(words[words.index("--data") + 1]) == _body()
    assert words[-2:] == ["-o", "german_credit-notice.html"]
    assert "Authorization" not in command


def test_the_api_key_is_named_never_written() -> None:
    command = curl("http://api", "m", _body(), with_key=True)
    assert '-H "Authorization: Bearer $CLARION_API_KEY"' in command
    source = python("http://api", "m", _body(), with_key=True)
    assert "os.environ['CLARION_API_KEY']" in source


def test_the_python_snippet_is_valid_python_with_the_same_body() -> None:
    for widget, ending in (("notice", "print(response.text)"), (None, '["narrative"])')):
        source = python("http://api", "m", _body(widget), with_key=True)
        tree = ast.parse(source)
        assigned = next(n for n in tree.body if isinstance(n, ast.Assign))
        assert ast.literal_eval(assigned.value) == _body(widget)
        assert ending in source
        assert '"http://api/v1/models/m/explain"' in source


def test_the_embed_carries_the_page_escaped_in_a_sandbox() -> None:
    page = '<!doctype html><html lang="de"><p title="a">Tom & "Jerry"</p></html>'
    snippet = embed(page, title='End user "notice"', height=460)
    srcdoc = re.search(r'srcdoc="([^"]*)"', snippet)
    assert srcdoc is not None
    assert html.unescape(srcdoc.group(1)) == page
    assert 'sandbox=""' in snippet
    assert 'title="End user &quot;notice&quot;"' in snippet
    assert "height: 460px" in snippet
