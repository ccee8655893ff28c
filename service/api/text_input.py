"""Reading a text from a request: the length limit every route that takes text applies."""

from __future__ import annotations

from service.errors import InvalidInput
from service.settings import Settings


def check_text_length(text: str, settings: Settings, field: str = "text") -> None:
    """Refuse a text over NEPCHECK_MAX_TEXT_CHARS before any tokenising (422 `text_too_long`)."""
    if len(text) > settings.max_text_chars:
        raise InvalidInput(f"{field} has {len(text)} characters; the limit is {settings.max_text_chars}",
                           code="text_too_long")
