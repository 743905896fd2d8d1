"""Hide passwords in text: URLs that did not parse, error messages that may echo a URL.

Kept free of heavy imports (no SQLAlchemy) so the command line can mask its own usage errors
without loading a database stack. :func:`shopmig.db.mask_url` masks parsed URLs, engines and
connections; :func:`scrub` removes known secrets from any text before it is shown or written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

QUERY_SECRET = re.compile(r"(?i)\b(password|passwd|pwd)=[^&\s'\"]*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_USER = re.compile(r"[^:/@\s]*:")
_HOST = re.compile(r"[\w.\-\[\]%]+")
_PORT = re.compile(r"\d+(?:[/?\s'\")]|$)")  # host:5432/db: a port, not user:password
MIN_SCRUB_LENGTH = 4
"""Secrets shorter than this are not replaced literally by :func:`scrub` (a 2-letter password
would blank every word holding those letters); URL-shaped text still has them masked."""


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


def _mask_url_passwords(text: str) -> str:
    """Mask ``scheme://user:PASSWORD@host`` anywhere in ``text``, also when the password holds
    spaces (a URL quoted in an argparse message): everything from ``user:`` to the last ``@``
    before the next URL that is followed by a host name."""
    starts = list(_SCHEME.finditer(text))
    out, pos = [], 0
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        user = _USER.match(text, match.end(), end)
        if user is None or _PORT.match(text, user.end(), end):
            continue
        at = next((j for j in range(end - 1, user.end() - 1, -1)
                   if text[j] == "@" and _HOST.match(text, j + 1, end)), None)
        if at is None:
            continue
        out += [text[pos : user.end()], "***"]
        pos = at
    out.append(text[pos:])
    return "".join(out)


def mask_text(text: str) -> str:
    """Hide every password in free text (an error message that may echo a URL)."""
    text = _mask_url_passwords(text)
    masked = " ".join(mask_unparsed(word) if "@" in word and "***@" not in word else word
                      for word in text.split(" "))
    return QUERY_SECRET.sub(r"\1=***", masked)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every URL password masked and every known secret (and its URL-encoded
    forms) replaced by ``***``: the last step before text is printed or written to a file."""
    text = mask_text(text)
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SCRUB_LENGTH},
                         key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
            text = text.replace(form, "***")
    return text
