"""API keys and roles: who may call what (stored beside the audit trail, owned here)."""

from service.auth.keys import ANONYMOUS, KeyRing, Principal, Role

__all__ = ["ANONYMOUS", "KeyRing", "Principal", "Role"]
