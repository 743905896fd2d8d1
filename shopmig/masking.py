"""Hide passwords in text: URLs that did not parse, error messages that may echo a URL.

Kept free of heavy imports (no SQLAlchemy) so the command line can mask its own usage errors
without loading a database stack. :func:`shopmig.db.mask_url` masks parsed URLs, engines and
connections.
"""

from __future__ import annotations

import re

QUERY_SECRET = re.compile(r"(?i)\b(password|passwd|pwd)=[^&\s'\"]*")


def mask_unparsed(text: str) -> str:
    """Hide anything between ``user:`` and the last ``@`` (and ``password=`` query values) in a
    string that did not parse as a URL, with or without a ``scheme://`` prefix."""
    at = text.rfind("@")
    if at >= 0:
        head = text[:at]
        scheme_end = head.find("://")
        colon = head.find(":", scheme_end + 3 if scheme_end >= 0 else 0)
        if colon >= 0:
            text = f"{text[: colon + 1]}***{text[at:]}"
    return QUERY_SECRET.sub(r"\1=***", text)


def mask_text(text: str) -> str:
    """Hide every password in free text (an error message that may echo a URL)."""
    masked = " ".join(mask_unparsed(word) if "@" in word else word for word in text.split(" "))
    return QUERY_SECRET.sub(r"\1=***", masked)
