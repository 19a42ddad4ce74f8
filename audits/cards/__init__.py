"""Model cards (R19): one per model version, built from facts and rendered from templates.

- :mod:`audits.cards.schema`: the card (Model Card Toolkit field names plus Docket's
  sections) and :func:`missing_sections`, which blocks promotion while any is empty.
- :mod:`audits.cards.facts`: :func:`build_card`, from the spec, the training run, the
  audit and any waiver.
- :mod:`audits.cards.render`: Markdown and HTML from two templates filled with one
  view, and JSON.

The card of a registered version is gathered by :func:`audits.card_source.card_for_version`.
"""

from audits.cards.facts import FIRST_VERSION, build_card
from audits.cards.render import SECTION_TITLES, card_json, card_view, render_html, render_markdown
from audits.cards.schema import CARD_SCHEMA_VERSION, SECTIONS, ModelCard, missing_sections

__all__ = [
    "CARD_SCHEMA_VERSION",
    "FIRST_VERSION",
    "SECTIONS",
    "SECTION_TITLES",
    "ModelCard",
    "build_card",
    "card_json",
    "card_view",
    "missing_sections",
    "render_html",
    "render_markdown",
]
