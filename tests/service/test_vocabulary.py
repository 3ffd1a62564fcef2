"""One vocabulary: every list lives in ``service.vocabulary`` (methods in the registry),
and the schemas, the CLI and the narratives read it; method names appear as literals only
in their own explainer module."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from service import vocabulary
from service.audit.schemas import AnnotationRequest, RiskSpec
from service.cli import app
from service.explain.explainers import EXPLAINERS
from service.people.narratives import LOCALES, PERSONAS
from service.people.narratives.templates import TEMPLATES
from service.wire.schemas import ExplainRequest, Notice

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    # The lime package's distribution name, recorded with every explanation's versions.
    ("service/engine.py", "lime"),
}


def _enum(schema: dict[str, Any], field: str) -> list[Any]:
    prop = schema["properties"][field]
    for option in prop.get("anyOf", [prop]):
        if "enum" in option:
            return list(option["enum"])
    raise AssertionError(f"{field} has no enum: {prop}")


def test_methods_come_from_the_registry() -> None:
    assert vocabulary.methods() == tuple(EXPLAINERS)
    assert vocabulary.method_choices() == ("auto", *EXPLAINERS)
    assert vocabulary.deterministic_methods() == tuple(
        name for name, cls in EXPLAINERS.items() if cls.deterministic
    )


def test_the_request_schema_lists_the_vocabulary() -> None:
    schema = ExplainRequest.model_json_schema()
    assert _enum(schema, "method") == list(vocabulary.method_choices())
    assert _enum(schema, "output") == list(vocabulary.OUTPUT_SPACES)
    assert _enum(schema, "persona") == list(vocabulary.PERSONAS)
    assert _enum(schema, "locale") == list(vocabulary.LOCALES)
    assert _enum(schema, "widget") == list(vocabulary.VARIANTS)
    assert _enum(schema, "theme") == list(vocabulary.THEMES)
    assert _enum(Notice.model_json_schema(), "persona") == list(vocabulary.PERSONAS)


def test_the_audit_schemas_list_the_vocabulary() -> None:
    assert _enum(AnnotationRequest.model_json_schema(), "verdict") == list(vocabulary.VERDICTS)
    weights = RiskSpec.model_json_schema()["properties"]["weights"]
    assert weights["propertyNames"]["enum"] == list(vocabulary.RISK_FLAGS)
    assert set(RiskSpec().weights) == set(vocabulary.RISK_FLAGS)


def test_the_narratives_speak_the_same_personas_and_locales() -> None:
    assert PERSONAS == vocabulary.PERSONAS
    assert set(TEMPLATES) == set(LOCALES) == set(vocabulary.LOCALES)
    assert set(vocabulary.LOCALE_NAMES) == set(vocabulary.LOCALES)


def test_the_cli_offers_the_registrys_methods() -> None:
    result = CliRunner().invoke(app, ["explain", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.replace("│", " ").split())
    assert f"One of {', '.join(vocabulary.method_choices())}." in flat


def test_the_dictionary_has_every_list() -> None:
    words = vocabulary.as_dict()
    assert set(words) == {
        "methods",
        "deterministic_methods",
        "output_spaces",
        "personas",
        "locales",
        "locale_names",
        "widgets",
        "themes",
        "verdicts",
        "risk_flags",
    }
    assert words["verdicts"] == list(vocabulary.VERDICTS)


def test_one_of_lists_names_as_messages_do() -> None:
    assert vocabulary.one_of(("a",)) == "'a'"
    assert vocabulary.one_of(("a", "b", "c")) == "'a', 'b' or 'c'"


_EXAMPLE_KEYWORDS = {"example", "examples", "json_schema_extra", "openapi_examples"}


def _in_an_example(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` is documentation: inside an OpenAPI example (a ``*EXAMPLE*``
    constant, an ``example(s)`` keyword or key)."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Assign | ast.AnnAssign):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if any(isinstance(t, ast.Name) and "example" in t.id.lower() for t in targets):
                return True
        if isinstance(parent, ast.keyword) and parent.arg in _EXAMPLE_KEYWORDS:
            return True
        if isinstance(parent, ast.Dict) and child in parent.values:
            key = parent.keys[parent.values.index(child)]
            if isinstance(key, ast.Constant) and key.value in _EXAMPLE_KEYWORDS:
                return True
        child, parent = parent, parents.get(parent)
    return False


def test_method_names_are_literals_only_in_their_own_module() -> None:
    """Adding a method is one new module and one registry entry: no other code names it
    (documentation aside: docstrings, descriptions and OpenAPI examples may)."""
    names = set(EXPLAINERS)
    found = []
    for folder in ("service", "widgets"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            own = {relative.removeprefix("service/explain/explainers/").removesuffix(".py")}
            tree = ast.parse(path.read_text(encoding="utf-8"))
            parents = {
                child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
            }
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and node.value in names
                    and node.value not in own
                    and (relative, node.value) not in ALLOWED
                    and not _in_an_example(node, parents)
                ):
                    found.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert not found, found
