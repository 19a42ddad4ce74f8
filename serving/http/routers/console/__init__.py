"""The web console's routes: pages for reviewers, auditors and administrators under ``/console``.

Sessions, roles, CSRF and the security headers are enforced before any of these
run (:mod:`serving.access.console_gate`); each route still declares its roles,
which is what the gate reads.
"""

from serving.http.routers.console import admin, audit, auth, monitoring, review
from serving.http.routers.console.common import FormProblem

CONSOLE_ROUTERS = (auth.router, review.router, audit.router, monitoring.router, admin.router)

__all__ = ["CONSOLE_ROUTERS", "FormProblem"]
