"""Roles, and the table of which roles may call which route.

Routes declare their roles where they are defined (``@allow("admin")`` on the
route function); the HTTP layer gathers those declarations into one
:class:`RouteTable`, which the :class:`~serving.access.middleware.Gatekeeper`
enforces and which ``docket routes`` and the README print. A route that is not
in the table is treated as admin-only, so a forgotten declaration fails closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeVar, get_args

__all__ = [
    "ALL_ROLES",
    "KEY_ROLES",
    "OPEN",
    "PERSON_ROLES",
    "ROLES",
    "Role",
    "RouteRule",
    "RouteTable",
    "allow",
    "declared_roles",
]

Role = Literal["application", "reviewer", "senior_reviewer", "auditor", "admin", "monitoring"]
ROLES: tuple[str, ...] = get_args(Role)
ALL_ROLES: frozenset[str] = frozenset(ROLES)
#: roles an API key may hold: applications, and the service accounts keys were made for
#: before people existed; a senior reviewer is always a named person; ``monitoring`` is
#: a key for a Prometheus server: it may read ``/metrics`` and nothing else
KEY_ROLES: tuple[str, ...] = ("application", "reviewer", "auditor", "admin", "monitoring")
#: roles a person may hold (one or more); ``application`` belongs to API keys only
PERSON_ROLES: tuple[str, ...] = ("reviewer", "senior_reviewer", "auditor", "admin")
#: the roles of a route anyone may call without a key (health checks, API docs)
OPEN: frozenset[str] = frozenset()
#: roles of a route that is in no table: fail closed
UNDECLARED: frozenset[str] = frozenset({"admin"})

_ATTRIBUTE = "__docket_roles__"
_MESSAGE_BAD_ROLE = "roles must be among {allowed}; got {got!r} instead"

F = TypeVar("F", bound=Callable[..., object])


def allow(*roles: str) -> Callable[[F], F]:
    """Declare who may call the decorated route function; ``allow()`` makes it open."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(_MESSAGE_BAD_ROLE.format(allowed=list(ROLES), got=unknown))

    def mark(func: F) -> F:
        setattr(func, _ATTRIBUTE, frozenset(roles))
        return func

    return mark


def declared_roles(func: Callable[..., object]) -> frozenset[str] | None:
    """The roles ``func`` declared with :func:`allow`, or None if it declared none."""
    return getattr(func, _ATTRIBUTE, None)


def _pattern(path: str) -> re.Pattern[str]:
    # "/decisions/{decision_id}" -> one path segment per parameter
    parts = re.split(r"(\{[^}/]+\})", path)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class RouteRule:
    """One route: method, path template, who may call it and what it does."""

    method: str
    path: str
    roles: frozenset[str]
    summary: str = ""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _pattern(self.path))

    @property
    def open(self) -> bool:
        return not self.roles

    def roles_text(self) -> str:
        return "open" if self.open else ", ".join(r for r in ROLES if r in self.roles)


class RouteTable:
    """Every route the service answers, with its roles; the first matching rule wins."""

    def __init__(self, rules: Iterable[RouteRule]) -> None:
        self.rules: tuple[RouteRule, ...] = tuple(rules)
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            key = (rule.method, rule.path)
            if key in seen:
                raise ValueError(f"route {rule.method} {rule.path} is declared twice")
            seen.add(key)

    def lookup(self, method: str, path: str) -> RouteRule | None:
        # HEAD is answered like GET by the frameworks underneath
        wanted = "GET" if method == "HEAD" else method
        for rule in self.rules:
            if rule.method == wanted and rule.pattern.match(path):
                return rule
        return None

    def roles_for(self, method: str, path: str) -> frozenset[str]:
        """Who may call ``method path``: its rule's roles, admin only if there is none."""
        rule = self.lookup(method, path)
        return UNDECLARED if rule is None else rule.roles

    def markdown(self) -> str:
        """The route table as the README shows it."""
        lines = ["| route | roles | what |", "|---|---|---|"]
        for rule in sorted(self.rules, key=lambda r: (r.open, r.path, r.method)):
            lines.append(f"| `{rule.method} {rule.path}` | {rule.roles_text()} | {rule.summary} |")
        return "\n".join(lines) + "\n"
