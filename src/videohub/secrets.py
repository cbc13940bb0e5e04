"""Keeping camera credentials out of everything a person or another system can read.

Stream URLs carry `user:password@`; FFmpeg error messages repeat the URL they failed on.
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


def mask_url(url: str) -> str:
    """`rtsp://user:pass@host/x` -> `rtsp://***@host/x`; URLs without credentials are unchanged."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", url)


def url_secrets(url: str) -> list[str]:
    """The credential strings inside a URL, raw and percent-decoded, for scrubbing free text."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    for value in (parts.username, parts.password):
        if value:
            found.extend({value, unquote(value)})
    return [s for s in found if len(s) >= 3]  # masking 1-2 char strings would shred messages


def mask_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Masks any known secret strings, then credentials in URLs inside free text."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)


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
