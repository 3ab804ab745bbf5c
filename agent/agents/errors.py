"""Errors of configured agents."""

from __future__ import annotations

from cache.errors import AgentError


class UnknownAgent(AgentError):
    """A request named an agent that is not defined (404)."""

    code = "not_found"
