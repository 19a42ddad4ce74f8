"""How pytest-xdist hands the tests to its workers (chosen in tests/conftest.py).

One test at a time, to whichever worker is free, so that a few long tests do not
leave a worker idle at the end; except that the tests of one end-to-end module
(``*_e2e.py``) go to one worker together, because they share one running server
(a module-scoped fixture) that would otherwise be started once per worker.

Why not ``--dist loadgroup`` with ``xdist_group`` marks: with pytest 9.2 and
pytest-xdist 3.8 the marks are silently ignored (pytest-dev/pytest-xdist#1386),
so the grouping is decided here, from the test id.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

SHARED_SERVER_SUFFIX = "_e2e.py"


class ServerModulesTogether(LoadScopeScheduling):
    """``--dist load`` for every test but those of a ``*_e2e.py`` module, kept together."""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if module.endswith(SHARED_SERVER_SUFFIX) else nodeid
