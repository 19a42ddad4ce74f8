"""The console's Jinja environment, its static files, and rendering one page."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from serving.console.formatting import local_time, percent, plain_label, time_left

__all__ = ["STATIC_TYPES", "render", "static_file"]

#: the files under ``static/`` a page may load, with their media types
STATIC_TYPES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "htmx.min.js": "text/javascript; charset=utf-8",
    "htmx.LICENSE.txt": "text/plain; charset=utf-8",
    "htmx.VERSION.txt": "text/plain; charset=utf-8",
}


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("serving.console", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = percent
    env.filters["local_time"] = local_time
    env.filters["plain"] = plain_label
    env.filters["time_left"] = time_left
    return env


def render(template: str, **context: Any) -> str:
    """The page ``template`` (a file under ``templates/``) with ``context``."""
    return _environment().get_template(template).render(**context)


def static_file(name: str) -> tuple[bytes, str] | None:
    """The bytes and media type of a static file, or None for a name not in the list."""
    media = STATIC_TYPES.get(name)
    if media is None:
        return None
    return resources.files("serving.console").joinpath("static", name).read_bytes(), media
