"""The roles a user may have, declared once; everything else reads them from here.

As in job-collection: ``admin`` may do everything, ``manager`` controls any job, ``creator``
creates jobs and reads and controls its own, ``worker`` claims work and reports on the jobs
leased to it. Which methods a role may call is read off the method table
(``livejobs.methods``): each method names its groups, each role is granted the groups below.
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["admin", "manager", "creator", "worker"]
#: every role, most powerful first
ROLES: tuple[Role, ...] = get_args(Role)

Group = Literal[
    "session", "read", "work", "create", "control", "observe", "types", "stats", "admin"
]
GROUPS: tuple[Group, ...] = get_args(Group)

#: the method groups each role is granted
ROLE_GROUPS: dict[Role, frozenset[Group]] = {
    # stats: totals over every owner's jobs of a type, for those who read every job of a type
    "worker": frozenset({"session", "read", "work", "stats"}),
    "creator": frozenset({"session", "read", "create", "control"}),
    "manager": frozenset({"session", "read", "create", "control", "observe", "types", "stats"}),
    "admin": frozenset(GROUPS),
}
#: roles that act on any job (and in bulk), not only their own
STAFF: frozenset[Role] = frozenset({"admin", "manager"})
