"""Who the audit trail names for the commands that change the database directly.

`cli:` and the name of the OS account that ran the command (its real user id, not the
environment's USER, which anyone can set): such commands need the database itself, so
the account is the only identity there is. `cli:uid-N` when the id has no name.
"""

from __future__ import annotations

import os
import pwd


def cli_actor() -> str:
    uid = os.getuid()
    try:
        return f"cli:{pwd.getpwuid(uid).pw_name}"
    except KeyError:  # an id without a passwd entry, as in many containers
        return f"cli:uid-{uid}"
