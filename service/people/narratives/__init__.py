"""Narratives: explanations people can read, from deterministic, versioned templates.

``narrate`` is the step the engine runs per explained instance: principal reasons
(``service.people.reasons``), confidence and quality gates (``service.people.confidence``),
counterfactuals (``service.people.counterfactuals``) and a ``Notice`` composed for a persona
(end_user, analyst, audit) and locale (``LOCALES``). ``render_text`` writes the notice
as the ``narrative`` string; ``widgets`` render the same notice as HTML.
No language model is involved: every sentence is a template in ``templates/`` with
the card's reviewed copy filled in, and ``TEMPLATE_VERSION`` travels with each notice.
"""

from __future__ import annotations

from service.people.narratives._compose import Persona, compose, domain_of
from service.people.narratives._narrate import Locale, narrate
from service.people.narratives._text import render_text
from service.people.narratives.templates import LOCALES, TEMPLATE_VERSION, template_digest
from service.vocabulary import PERSONAS

__all__ = [
    "LOCALES",
    "PERSONAS",
    "TEMPLATE_VERSION",
    "Locale",
    "Persona",
    "compose",
    "domain_of",
    "narrate",
    "render_text",
    "template_digest",
]
