"""Code to share a preview: the same explain call as curl or Python, and an HTML embed.

``explain_body`` is the request the Preview sends for what it shows (the body of
``POST /v1/models/{name}/explain``); ``curl`` and ``python`` write it out as code a
developer can paste, ``embed`` wraps the served widget page in an ``<iframe srcdoc>``.
An API key is never written into a snippet: they read it from ``CLARION_API_KEY``.
Pure: no Streamlit, no network.
"""

from __future__ import annotations

import html
import json
import shlex
from collections.abc import Mapping
from typing import Any

__all__ = ["API_KEY_VARIABLE", "curl", "embed", "explain_body", "python"]

API_KEY_VARIABLE = "CLARION_API_KEY"


def explain_body(
    instance: Mapping[str, Any],
    *,
    method: str,
    persona: str,
    locale: str,
    counterfactuals: int,
    widget: str | None = None,
    theme: str = "light",
) -> dict[str, Any]:
    """The explain request for one case; with ``widget``, the HTML page (``format: html``)."""
    body: dict[str, Any] = {
        "instances": [dict(instance)],
        "method": method,
        "persona": persona,
        "locale": locale,
        "counterfactuals": counterfactuals,
    }
    if widget is not None:
        body |= {"format": "html", "widget": widget, "theme": theme}
    return body


def _url(base_url: str, model: str) -> str:
    return f"{base_url.rstrip('/')}/v1/models/{model}/explain"


def curl(base_url: str, model: str, body: Mapping[str, Any], *, with_key: bool = False) -> str:
    """A shell command that sends ``body``; it saves an HTML answer to a file."""
    lines = [
        f"curl -sS -X POST {shlex.quote(_url(base_url, model))}",
        "  -H 'Content-Type: application/json'",
    ]
    if with_key:
        lines.append(f'  -H "Authorization: Bearer ${API_KEY_VARIABLE}"')
    lines.append(f"  --data {shlex.quote(json.dumps(body, indent=2, ensure_ascii=False))}")
    if body.get("format") == "html":
        filename = f"{model}-{body.get('widget', 'notice')}.html"
        lines.append(f"  -o {shlex.quote(filename)}")
    return " \\\n".join(lines)


def _literal(value: Any, depth: int = 0) -> str:
    """``value`` as Python source, one key or item per line (JSON strings are Python's too)."""
    pad, inner = "    " * depth, "    " * (depth + 1)
    if isinstance(value, Mapping) and value:
        items = [f"{inner}{json.dumps(str(k))}: {_literal(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f",\n{pad}}}"
    if isinstance(value, list | tuple) and value:
        items = [f"{inner}{_literal(v, depth + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f",\n{pad}]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def python(base_url: str, model: str, body: Mapping[str, Any], *, with_key: bool = False) -> str:
    """A Python script (httpx) that sends ``body`` and prints what comes back."""
    lines = ["import os", "", "import httpx"] if with_key else ["import httpx"]
    lines += ["", f"body = {_literal(dict(body))}"]
    arguments = [json.dumps(_url(base_url, model)), "json=body"]
    if with_key:
        token = f"os.environ['{API_KEY_VARIABLE}']"  # single quotes: Python 3.11 f-strings
        arguments.append(f'headers={{"Authorization": f"Bearer {{{token}}}"}}')
    arguments.append("timeout=60")
    lines += ["response = httpx.post(", *[f"    {a}," for a in arguments], ")"]
    lines.append("response.raise_for_status()")
    if body.get("format") == "html":
        lines.append("print(response.text)  # the widget page, self-contained HTML")
    else:
        lines.append('print(response.json()["explanations"][0]["narrative"])')
    return "\n".join(lines)


def embed(page: str, *, title: str, height: int) -> str:
    """An ``<iframe>`` that carries the served widget page in its ``srcdoc``.

    ``sandbox`` without permissions: the widget needs no script, form or storage.
    """
    return (
        f'<iframe title="{html.escape(title)}" sandbox="" '
        f'style="width: 100%; height: {height}px; border: 0" '
        f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
    )
