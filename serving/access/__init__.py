"""Access: people, API keys, roles, the route table, the gatekeeper, personal-data rules.

Waivers asked for and approved by people live in :mod:`serving.access.waivers`,
imported on its own: it needs the registry (MLflow), which the rest does not.

>>> from serving.access import allow, RouteTable  # doctest: +SKIP
"""

from serving.access.errors import AccessDenied, ErrorKind, PurposeRequired, ServiceError
from serving.access.keys import (
    KeyAdminError,
    Principal,
    PrincipalKind,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
)
from serving.access.middleware import MAX_BODY_BYTES, Gatekeeper
from serving.access.people import (
    Person,
    PersonAdminError,
    add_person,
    authenticate_person,
    disable_person,
    find_person,
    list_people,
    name_key,
    require_person,
)
from serving.access.personal import (
    PERSONAL_DATA_ROLES,
    check_decision_read,
    check_personal_read,
)
from serving.access.roles import (
    ALL_ROLES,
    KEY_ROLES,
    OPEN,
    PERSON_ROLES,
    ROLES,
    Role,
    RouteRule,
    RouteTable,
    allow,
    declared_roles,
)

__all__ = [
    "ALL_ROLES",
    "KEY_ROLES",
    "MAX_BODY_BYTES",
    "OPEN",
    "PERSONAL_DATA_ROLES",
    "PERSON_ROLES",
    "ROLES",
    "AccessDenied",
    "ErrorKind",
    "Gatekeeper",
    "KeyAdminError",
    "Person",
    "PersonAdminError",
    "Principal",
    "PrincipalKind",
    "PurposeRequired",
    "Role",
    "RouteRule",
    "RouteTable",
    "ServiceError",
    "add_person",
    "allow",
    "authenticate",
    "authenticate_person",
    "check_decision_read",
    "check_personal_read",
    "create_key",
    "declared_roles",
    "disable_person",
    "find_person",
    "list_keys",
    "list_people",
    "name_key",
    "require_person",
    "revoke_key",
]
