"""The web console served by the control plane (`/console`): sign in, build agents, talk to
them, review their calls."""

from .routes import install_console

__all__ = ["install_console"]
