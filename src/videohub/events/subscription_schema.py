"""Webhook subscriptions as the API takes and gives them, and the body a receiver gets."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from videohub.events.schema import ChangeKind, EventFilter, EventOut, InputModel, StrictModel
from videohub.secrets import has_masked_secret

DeliveryStatus = Literal["pending", "delivered", "failed"]

SECRET_MIN = 16


def validate_webhook_url(url: str) -> str:
    """An http(s) URL with a host. The message never repeats the URL: it may carry credentials."""
    if not url or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("must be non-empty and contain no whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("malformed URL: the port is not a number 1-65535") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"scheme must be http or https, not {parts.scheme!r}")
    if not parts.hostname or port == 0:
        raise ValueError("needs a host (and a port 1-65535 if one is given)")
    if has_masked_secret(url):
        raise ValueError(
            "carries the masked credentials '***' the API shows; send the real ones, or leave url out of the change"
        )
    return url


class _UrlChecked(InputModel):
    @field_validator("url", check_fields=False)
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else validate_webhook_url(v)


class SubscriptionIn(_UrlChecked):
    """A new webhook subscription (POST /api/v1/subscriptions). Deliveries start with the
    changes made after it is created."""

    url: str = Field(
        ...,
        max_length=2000,
        description="http(s) URL the hub POSTs each matching change to. Credentials in it (user:password@) are "
        "sent as HTTP basic auth and never shown back.",
    )
    secret: str = Field(
        ...,
        min_length=SECRET_MIN,
        max_length=256,
        description="Key of the HMAC-SHA256 signature in X-Videohub-Signature. Write-only: never returned.",
    )
    filters: EventFilter = Field(
        default_factory=EventFilter,
        description="Which events to deliver: the filters of GET /api/v1/events; empty fields match all.",
    )
    description: str = Field("", max_length=500, description="What the subscription is for, for operators.")
    active: bool = Field(True, description="A paused subscription queues nothing; on resume it catches up in order.")


class SubscriptionPatch(_UrlChecked):
    """Changes to a subscription (PATCH); fields left out stay as they are."""

    url: str | None = Field(None, max_length=2000, description="New receiver URL.")
    secret: str | None = Field(
        None, min_length=SECRET_MIN, max_length=256, description="New signing key (rotation). Write-only."
    )
    filters: EventFilter | None = Field(None, description="New filters; apply to changes not yet queued.")
    description: str | None = Field(None, max_length=500, description="New description.")
    active: bool | None = Field(None, description="false pauses the subscription, true resumes it.")

    @field_validator("url", "secret", "filters", "active", "description")
    @classmethod
    def _not_null(cls, v: object) -> object:
        if v is None:
            raise ValueError("may be left out, but not null")
        return v


class SubscriptionOut(StrictModel):
    """A webhook subscription; the secret is never part of it."""

    id: str = Field(..., description="Subscription id (32 hex digits).")
    url: str = Field(..., description="Receiver URL, credentials masked as ***.")
    filters: EventFilter = Field(..., description="Which events are delivered.")
    description: str = Field(..., description="What it is for.")
    active: bool = Field(..., description="false: paused.")
    cursor: int = Field(..., description="Outbox seq up to which changes have been queued for it.")
    pending: int = Field(..., description="Deliveries queued or being retried.")
    failed: int = Field(..., description="Deliveries given up after the last attempt.")
    created_at: datetime = Field(..., description="When it was created (UTC).")
    updated_at: datetime = Field(..., description="Last change (UTC).")


class DeliveryOut(StrictModel):
    """One delivery of one change to one subscription."""

    id: str = Field(..., description="Delivery id, sent as X-Videohub-Delivery (the same on every retry).")
    subscription_id: str = Field(..., description="The subscription it belongs to.")
    seq: int = Field(..., description="Outbox seq of the change.")
    event_id: str = Field(..., description="The event that changed.")
    kind: ChangeKind = Field(..., description="created, updated or transition.")
    status: DeliveryStatus = Field(..., description="pending (queued or being retried), delivered, or failed.")
    attempts: int = Field(..., description="Attempts made so far.")
    last_status_code: int | None = Field(..., description="HTTP status of the last answer; null: none came.")
    last_error: str | None = Field(..., description="Why the last attempt failed; null if it did not.")
    next_attempt_at: datetime | None = Field(..., description="When it is tried next (pending only).")
    last_attempt_at: datetime | None = Field(..., description="When it was last tried.")
    created_at: datetime = Field(..., description="When it was queued.")
    delivered_at: datetime | None = Field(..., description="When a 2xx answer came back.")


class WebhookPayload(StrictModel):
    """The JSON body POSTed to a receiver. X-Videohub-Signature is `sha256=` + the hex
    HMAC-SHA256 of the raw body with the subscription's secret; `sent_at` is inside the
    signed body, so a receiver can refuse replays of old bodies."""

    delivery_id: str = Field(..., description="Stable across retries: de-duplicate on it.")
    subscription_id: str = Field(..., description="The subscription this is for.")
    attempt: int = Field(..., description="1 for the first attempt, 2 for the first retry, ...")
    sent_at: datetime = Field(..., description="When this attempt was sent (UTC).")
    seq: int = Field(..., description="Outbox seq of the change; increases along a subscription's deliveries.")
    kind: ChangeKind = Field(..., description="created, updated (evidence) or transition (status).")
    at: datetime = Field(..., description="When the change was made (UTC).")
    event: EventOut = Field(..., description="The event as it was when the change was queued.")
