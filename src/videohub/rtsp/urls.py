"""RTSP URL helpers: credential masking for logs and request-path normalisation."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
# Per-track control suffixes that clients append to the aggregate URL in SETUP/PLAY.
_CONTROL_SUFFIX = re.compile(r"^(trackID=\d+|track\d+|streamid=\d+|stream=\d+)$", re.IGNORECASE)


def mask_credentials(url: str) -> str:
    """Replace any ``user:pass@`` in URLs inside `url` with ``***@`` (for logs and errors)."""
    return _USERINFO.sub(r"\g<scheme>***@", url)


def strip_credentials(url: str) -> str:
    """`url` with any ``user:pass@`` removed (for URLs echoed back to the client)."""
    return _USERINFO.sub(r"\g<scheme>", url)


def request_path(url: str) -> str:
    """The feed path an RTSP request URL names, as a FeedResolver expects it.

    ``rtsp://u:p@h:8554/cam1/trackID=0?x=1`` -> ``cam1``; ``/city/cam7/`` -> ``city/cam7``;
    ``*`` -> ``""``. Query strings, credentials and a trailing track control suffix go.
    """
    if url == "*":
        return ""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0].split("#", 1)[0]
    segments = [unquote(s) for s in path.split("/") if s]
    if len(segments) > 1 and _CONTROL_SUFFIX.match(segments[-1]):
        segments.pop()
    return "/".join(segments)


def base_url(url: str) -> str:
    """The request URL without credentials, query or track suffix, ending in ``/``.

    Used as Content-Base: clients resolve the SDP's ``a=control:trackID=0`` against it.
    """
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    path = quote(request_path(url), safe="/")
    return f"{parts.scheme or 'rtsp'}://{host}/{path}/" if path else f"{parts.scheme or 'rtsp'}://{host}/"
