"""The secrets nothing the library writes may hold: API keys found in the environment.

Cassettes (:mod:`aiml_agent.testing._scrubbing`) and traces with content (:mod:`aiml_agent.tracing`) replace
each of them with ``REDACTED``.
"""

from __future__ import annotations

import os

REDACTED = "REDACTED"
#: Values shorter than this are not treated as secrets: replacing "abc" would garble ordinary words.
MIN_SECRET_LEN = 6


def environment_secrets() -> set[str]:
    """The values of the ``*_API_KEY`` environment variables (at least ``MIN_SECRET_LEN`` characters)."""
    return {
        value for name, value in os.environ.items() if name.upper().endswith("API_KEY") and len(value) >= MIN_SECRET_LEN
    }


def longest_first(secrets: set[str]) -> list[str]:
    """The order to replace secrets in, so that one holding another is replaced whole."""
    return sorted(secrets, key=len, reverse=True)
