"""Keeping camera credentials out of everything a person or another system can read.

Stream and webhook URLs carry `user:password@` or a `?token=`-style query parameter; FFmpeg
and httpx messages repeat the URL they worked on.
Everything that leaves the process (API responses, logs, health records) goes through
`mask_url` / `mask_text` first, and a logging filter applies `mask_text` to every record
as a last line of defence.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, urlsplit

# scheme://userinfo@ — userinfo runs to the LAST '@' before the path, as urlsplit and
# FFmpeg read it, so a password containing '@' is masked whole.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/\s'\"]+)@")


# Query parameters that carry credentials (`?token=`, Dahua's `&password=`, signed URLs'
# `sig=`): their values are masked too. Others (`channel=1&subtype=0`) stay readable.
SECRET_PARAMS = (
    "password|passwd|pwd|pass|token|access_token|auth|auth_token|authorization|api_key|apikey|key|"
    "secret|client_secret|sig|signature"
)
_QUERY_SECRET = re.compile(rf"(?P<name>[?&;](?:{SECRET_PARAMS})=)(?P<value>[^&#\s'\"]*)", re.IGNORECASE)


def _mask(text: str) -> str:
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('name')}***" if m.group("value") else m.group(0), text)


def mask_url(url: str) -> str:
    """`rtsp://user:pass@host/x?token=t` -> `rtsp://***@host/x?token=***`; URLs without
    credentials are unchanged."""
    return _mask(url)


def has_masked_secret(url: str) -> bool:
    """Whether a URL carries the `***` the API shows in place of a credential (sent back as is,
    it would be stored instead of the real one)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if "***" in (parts.username or "", parts.password or ""):
        return True
    return any(m.group("value") == "***" for m in _QUERY_SECRET.finditer("?" + parts.query))


def url_secrets(url: str) -> list[str]:
    """The credential strings inside a URL, raw and percent-decoded, for scrubbing free text."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    values = [parts.username, parts.password]
    values += [m.group("value") for m in _QUERY_SECRET.finditer("?" + parts.query)]
    for value in values:
        if value:
            found.extend({value, unquote(value)})
    return [s for s in found if len(s) >= 3]  # masking 1-2 char strings would shred messages


def mask_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Masks any known secret strings, then credentials in URLs inside free text."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _mask(text)


class MaskingFilter(logging.Filter):
    """Rewrites every log record so no URL credentials reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info:
            # Formatters reuse (and cache) exc_text, so masking it masks the traceback, which
            # may quote a URL, for every handler, including one that formatted it already.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_text(text)
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Adds the masking filter to every handler of `logger` (root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
