"""The web console: page templates, static files and what pages show, free of any web framework.

The HTTP layer (:mod:`serving.http.routers.console`) routes requests here and
sends back what :func:`render` returns. Pages are server-rendered and readable
with JavaScript off; the one vendored script (htmx, ``make vendor``) and
``console.js`` (local times) only improve them.
"""

from serving.console.formatting import percent, plain_label, time_left
from serving.console.pages import STATIC_TYPES, render, static_file

__all__ = ["STATIC_TYPES", "percent", "plain_label", "render", "static_file", "time_left"]
