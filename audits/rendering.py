"""The one loader of audit document templates, and the two ways of filling them.

Templates are package data under ``audits/templates/`` and are found through the
package (``jinja2.PackageLoader``), so they load the same from a source checkout, an
installed wheel or a zip. The suffix of a template's name picks its environment:

- ``*.html.j2``: HTML, every value autoescaped.
- ``*.md.j2``: Markdown, no HTML autoescaping; instead every value printed with
  ``{{ ... }}`` is escaped for Markdown (``<``, ``>``, table pipes, line breaks), so
  text from a spec cannot inject markup or break a table. Partials are pulled in with
  ``{% include %}``, whose output is not escaped again.

Both environments are strict (an undefined name is an error, not an empty string) and
share the formatters of :mod:`audits.display`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from audits.display import ci, comparator, num, pct, yes_no

HTML_SUFFIX = ".html.j2"
MARKDOWN_SUFFIX = ".md.j2"
MESSAGE_TEMPLATE_NAME = f"The 'name' parameter must end in {HTML_SUFFIX!r} or {MARKDOWN_SUFFIX!r}."


def markdown_escape(value: Any) -> str:
    """Text safe inside Markdown paragraphs, list items and table cells.

    Examples
    --------
    >>> markdown_escape("a <b> | c\\nd")
    'a &lt;b&gt; \\\\| c d'
    """
    text = str(value).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return text.replace("\r\n", " ").replace("\n", " ")


def _finalize_markdown(value: Any) -> Any:
    # a value already marked safe (the output of a macro or ``| safe``) is kept as it is
    return value if isinstance(value, Markup) else markdown_escape(value)


@lru_cache(maxsize=1)
def _loader() -> PackageLoader:
    return PackageLoader("audits", "templates")


def _environment(**options: Any) -> Environment:
    env = Environment(
        loader=_loader(),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )
    env.filters.update(num=num, pct=pct, yes_no=yes_no)
    env.globals.update(ci=ci, comparator=comparator)
    return env


@lru_cache(maxsize=1)
def html_environment() -> Environment:
    """The autoescaping environment of every ``*.html.j2`` template."""
    return _environment(autoescape=True)


@lru_cache(maxsize=1)
def markdown_environment() -> Environment:
    """The environment of every ``*.md.j2`` template (values escaped for Markdown)."""
    return _environment(autoescape=False, finalize=_finalize_markdown)


def render(name: str, **context: Any) -> str:
    """Render the template ``name`` of ``audits/templates`` with ``context``.

    Parameters
    ----------
    name : str
        Template file name, ending in ``.html.j2`` or ``.md.j2``.
    **context
        The template's variables.

    Returns
    -------
    str
    """
    if name.endswith(HTML_SUFFIX):
        env = html_environment()
    elif name.endswith(MARKDOWN_SUFFIX):
        env = markdown_environment()
    else:
        raise ValueError(f"{MESSAGE_TEMPLATE_NAME} Got {name!r} instead.")
    return env.get_template(name).render(**context)
