"""/api/v1/subscriptions: webhook subscriptions to events, and their delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from videohub.api.deps import Runtime
from videohub.api.schemas import ErrorOut
from videohub.events.subscription_schema import (
    DeliveryOut,
    DeliveryStatus,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from videohub.events.webhooks import MAX_DELIVERY_PAGE, DeliveryNotFound, NotRetryable, SubscriptionNotFound

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])

# No NUL character: PostgreSQL refuses it in a query parameter (a 500); a 422 names the part.
SubId = Annotated[str, Path(pattern=r"^[^\x00]*$", description="Subscription id.")]
DeliveryId = Annotated[str, Path(pattern=r"^[^\x00]*$", description="Delivery id (X-Videohub-Delivery).")]
NOT_FOUND: dict[int | str, dict] = {404: {"model": ErrorOut}}
CODE_ERRORS: dict[int | str, dict] = {422: {"description": "Invalid field; `field` names it, `allowed` lists codes."}}


def _not_found(sub_id: str) -> HTTPException:
    return HTTPException(404, f"subscription {sub_id!r} not found")


@router.post("", response_model=SubscriptionOut, status_code=201, responses=CODE_ERRORS)
def create_subscription(body: SubscriptionIn, runtime: Runtime) -> SubscriptionOut:
    """Every change (created, updated, transition) of an event matching `filters`, made
    after this call, is POSTed to `url`, signed with `secret`, retried with backoff."""
    return runtime.subscriptions.create(body)


@router.get("", response_model=list[SubscriptionOut])
def list_subscriptions(runtime: Runtime) -> list[SubscriptionOut]:
    return runtime.subscriptions.list()


@router.get("/{sub_id}", response_model=SubscriptionOut, responses=NOT_FOUND)
def get_subscription(sub_id: SubId, runtime: Runtime) -> SubscriptionOut:
    try:
        return runtime.subscriptions.get(sub_id)
    except SubscriptionNotFound:
        raise _not_found(sub_id) from None


@router.patch("/{sub_id}", response_model=SubscriptionOut, responses={**NOT_FOUND, **CODE_ERRORS})
def update_subscription(sub_id: SubId, body: SubscriptionPatch, runtime: Runtime) -> SubscriptionOut:
    try:
        return runtime.subscriptions.update(sub_id, body)
    except SubscriptionNotFound:
        raise _not_found(sub_id) from None


@router.delete("/{sub_id}", status_code=204, response_class=Response, responses=NOT_FOUND)
def delete_subscription(sub_id: SubId, runtime: Runtime) -> Response:
    try:
        runtime.subscriptions.delete(sub_id)
    except SubscriptionNotFound:
        raise _not_found(sub_id) from None
    return Response(status_code=204)


@router.get("/{sub_id}/deliveries", response_model=list[DeliveryOut], responses=NOT_FOUND)
def list_deliveries(
    sub_id: SubId,
    runtime: Runtime,
    status: Annotated[DeliveryStatus | None, Query(description="Only deliveries in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DELIVERY_PAGE, description="Most deliveries returned.")] = 50,
) -> list[DeliveryOut]:
    """The most recent deliveries (newest change first): state, attempts, last error and
    the next attempt's time, so an operator sees a receiver that fails."""
    try:
        return runtime.subscriptions.deliveries(sub_id, status, limit)
    except SubscriptionNotFound:
        raise _not_found(sub_id) from None


@router.post(
    "/{sub_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses={**NOT_FOUND, 409: {"model": ErrorOut, "description": "The delivery is not failed."}},
)
def retry_delivery(sub_id: SubId, delivery_id: DeliveryId, runtime: Runtime) -> DeliveryOut:
    """Queues a failed delivery again with fresh attempts, once the receiver is fixed; it
    keeps its delivery id and takes its seq's place among the pending ones."""
    try:
        return runtime.subscriptions.retry(sub_id, delivery_id)
    except SubscriptionNotFound:
        raise _not_found(sub_id) from None
    except DeliveryNotFound:
        raise HTTPException(404, f"delivery {delivery_id!r} of subscription {sub_id!r} not found") from None
    except NotRetryable as exc:
        raise HTTPException(409, str(exc)) from None
