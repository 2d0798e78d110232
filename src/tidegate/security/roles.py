"""The roles a user or an API token can have, least to most (web/auth.py ranks them).

Its own module, free of imports: the settings check OIDC role mappings against it, and
loading the settings must not load the database's modules (`tidegate runs` does without).
"""

ROLES = ("viewer", "approver", "admin")
