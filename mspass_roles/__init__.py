"""mspass_roles: the MsPASS container's role entrypoint (settings, roles, supervisor)."""

__version__ = "0.1.0"
