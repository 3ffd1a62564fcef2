"""The README's two Quickstart commands are the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.DOTALL)


def test_quickstart_has_exactly_two_commands() -> None:
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)


def test_ci_runs_the_readme_test_command() -> None:
    test_command = _quickstart_commands()[1]
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci


def test_the_readme_german_credit_curl_answers_with_an_explanation(tmp_path: Path) -> None:
    """The README's first explain call, sent as curl sends it (form content type)."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from tests.support import make_settings

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if "german_credit/explain -d" in x)
    body = line.split(" -d '", 1)[1].rsplit("'", 1)[0]
    with TestClient(create_app(make_settings(ROOT / "models"))) as client:
        r = client.post(
            "/v1/models/german_credit/explain",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["method"] == "tree_shap"
    (e,) = answer["explanations"]
    total = e["base_value"] + sum(a["attribution"] for a in e["attributions"])
    assert abs(total - e["output_value"]) < 1e-5
    assert e["reasons"]
    assert e["narrative"]


def test_the_layout_table_matches_the_tree() -> None:
    """Every package of service/ has a row in the README's Layout, and every path a row
    names exists."""
    import re

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    layout = layout[: layout.index("\n## ", 1)] if "\n## " in layout[1:] else layout
    rows = [line for line in layout.splitlines() if line.startswith("| `")]
    named = {m for row in rows for m in re.findall(r"`([\w./-]+)`", row.split("|")[1])}
    for path in named:
        assert (root / path).exists(), f"the Layout names {path}, which does not exist"
    packages = {
        f"service/{p.name}/"
        for p in (root / "service").iterdir()
        if p.is_dir() and (p / "__init__.py").exists()
    }
    missing = sorted(packages - named)
    assert not missing, f"packages without a row in the README's Layout: {missing}"
