"""The one place where secrets are taken out of text: errors, logs and alerts.

A server may echo a secret back in whatever encoding it received it in: a form body
(`client_secret=s3cr%2Bt...`), JSON (`"s3cr\\/t"`), an HTTP Basic header (base64 of
`id:secret`). `redact` therefore replaces every such encoding of every secret, and a text
cut to a length limit is cut after redaction, never leaving the start of a secret at its
end.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
ELLIPSIS = "…"
# A trailing fragment of a secret this long or longer is dropped at a cut; shorter ones
# reveal next to nothing and would often be ordinary words.
MIN_FRAGMENT = 4

_QUERY_STRING = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\")]*")


def basic_credentials(client_id: str, secret: str) -> list[str]:
    """The base64 of `client_id:secret` that HTTP Basic sends: as most clients build it,
    and with both parts form-encoded first (RFC 6749, section 2.3.1)."""
    pairs = {f"{client_id}:{secret}", f"{quote_plus(client_id)}:{quote_plus(secret)}"}
    return [base64.b64encode(pair.encode()).decode() for pair in sorted(pairs)]


def encodings(secret: str) -> set[str]:
    """`secret` as it may appear in a server's text: raw, URL-encoded (`quote`,
    `quote_plus`: form bodies), and each of those JSON-escaped (with `/` escaped or not,
    and with `&<>` as `\\u00XX`, as Go and some Java encoders write them)."""
    url_forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe="/"),
    }
    found = set(url_forms)
    for form in url_forms:
        for ensure_ascii in (True, False):
            escaped = json.dumps(form, ensure_ascii=ensure_ascii)[1:-1]
            html_safe = (
                escaped.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            )
            for variant in (escaped, html_safe):
                found.update((variant, variant.replace("/", "\\/")))
    return {value for value in found if value}


def _all_encodings(secrets: Iterable[str]) -> list[str]:
    """Every encoding of every non-empty secret, longest first (so that the longest match
    at a position wins)."""
    found: set[str] = set()
    for secret in secrets:
        if secret:
            found |= encodings(secret)
    return sorted(found, key=lambda value: (-len(value), value))


def redact(text: str, secrets: Iterable[str], limit: int | None = None) -> str:
    """`text` with every encoding of each secret and every URL query string replaced; when
    `limit` is given, cut to at most `limit` characters after redaction.

    Matching ignores case: `%2b` is `%2B` to a server, and redacting a little more than
    needed costs nothing. A cut drops any trailing fragment of a secret (a secret the text
    held only in part, e.g. one a server truncated), so no cut shows the start of one.
    """
    values = _all_encodings(secrets)
    # Only the values present go into the pattern: one substring search each is far
    # cheaper than a long alternation over a multi-megabyte error page.
    folded = text.lower()
    present = [v for v in values if v in text or v.lower() in folded]
    if present:
        pattern = re.compile("|".join(re.escape(v) for v in present), re.IGNORECASE)
        text = pattern.sub(REDACTED, text)
    # Query strings may carry tokens in some APIs: never echo them.
    text = _QUERY_STRING.sub(r"\1?" + ELLIPSIS, text)
    if limit is not None and len(text) > limit:
        text = _drop_trailing_fragments(text[: max(limit - len(ELLIPSIS), 0)], values)
        text += ELLIPSIS
    return text


def _drop_trailing_fragments(text: str, values: list[str]) -> str:
    """`text` without any ending that is the start of one of `values` (at least
    `MIN_FRAGMENT` characters); repeated, since what is left may end in another."""
    while True:
        longest = 0
        for value in values:
            for size in range(min(len(value) - 1, len(text)), max(longest, MIN_FRAGMENT - 1), -1):
                if text[-size:].lower() == value[:size].lower():
                    longest = size
                    break
        if not longest:
            return text
        text = text[:-longest]
