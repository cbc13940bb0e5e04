"""/api/v1/events: standard city events, their handling process and their live stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from videohub.api.deps import Runtime
from videohub.api.errors import validation_detail
from videohub.api.schemas import ErrorOut
from videohub.api.sse import change_stream
from videohub.events.schema import (
    BatchItemError,
    BatchItemResult,
    EventBatchIn,
    EventBatchItem,
    EventBatchOut,
    EventFilter,
    EventIn,
    EventOut,
    EventPage,
    TransitionIn,
    UtcDatetime,
)
from videohub.events.service import MAX_PAGE, BatchOutcome, EventNotFound, IdempotencyConflict
from videohub.taxonomy import TaxonomyError, TransitionError

router = APIRouter(prefix="/api/v1/events", tags=["events"])


def _many(values: list[str] | None) -> list[str]:
    """Repeated parameters and comma-separated lists both work: ?level=1&level=2 or ?level=1,2."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _ints(values: list[str] | None, field: str) -> list[int]:
    try:
        return [int(v) for v in _many(values)]
    except ValueError:
        raise TaxonomyError(field, "codes are numbers") from None


_PARAM = {"camera_id": "camera"}  # EventFilter's field -> the query parameter
# No NUL character: PostgreSQL refuses it in a query parameter (a 500); a 422 names the part.
EventId = Annotated[str, Path(pattern=r"^[^\x00]*$", description="Event id.")]


def event_filter(
    since: Annotated[UtcDatetime | None, Query(description="occurred_at at or after (ISO 8601 with offset).")] = None,
    until: Annotated[UtcDatetime | None, Query(description="occurred_at before (ISO 8601 with offset).")] = None,
    region: Annotated[list[str] | None, Query(description="Region codes; a division includes its towns.")] = None,
    category: Annotated[list[str] | None, Query(description="Major or minor category codes.")] = None,
    level: Annotated[list[str] | None, Query(description="Level codes.")] = None,
    source: Annotated[list[str] | None, Query(description="Source codes.")] = None,
    status: Annotated[list[str] | None, Query(description="Status codes.")] = None,
    camera: Annotated[list[str] | None, Query(description="Camera ids.")] = None,
) -> EventFilter:
    try:
        return EventFilter(
            since=since,
            until=until,
            region=_many(region),
            category=_many(category),
            level=_ints(level, "level"),
            source=_many(source),
            status=_ints(status, "status"),
            camera_id=_many(camera),
        )
    except ValidationError as exc:  # e.g. a NUL character: a 422 naming the parameter, not a 500
        raise RequestValidationError(
            [{**e, "loc": ("query", _PARAM.get(str(e["loc"][0]), e["loc"][0]))} for e in exc.errors()]
        ) from None


Filter = Annotated[EventFilter, Depends(event_filter)]
CODE_ERRORS: dict[int | str, dict] = {422: {"description": "A code the tables do not hold; `allowed` lists them."}}


@router.post(
    "",
    response_model=EventOut,
    status_code=201,
    responses={200: {"model": EventOut, "description": "A replay of an earlier request with this key."}, **CODE_ERRORS},
)
def create_event(
    body: EventIn,
    runtime: Runtime,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            # An empty key is a client bug, not a key: stored, it made every later request
            # with an empty header a replay of the first, or a 422 conflict.
            min_length=1,
            max_length=128,
            description="Any unique string per event; a retry with the same key returns the first one's event.",
        ),
    ] = None,
) -> EventOut:
    try:
        out, created = runtime.events.create(body, actor=f"api:{body.source}", idempotency_key=idempotency_key)
    except IdempotencyConflict as exc:
        raise HTTPException(422, str(exc)) from None
    if not created:
        response.status_code = 200
    return out


@router.post("/batch", response_model=EventBatchOut)
def create_events_batch(body: EventBatchIn, runtime: Runtime) -> EventBatchOut:
    """Records up to 1000 events in one transaction. The answer is 200 with one result per
    item whenever the envelope is valid: an item refused (what a single POST would answer
    with 422) is reported with its index and field, and the valid items are recorded all the
    same. Items with an `idempotency_key` replay as the Idempotency-Key header does, across
    batches and single requests alike."""
    results: list[BatchItemResult | None] = [None] * len(body.items)
    valid: list[tuple[int, EventBatchItem]] = []
    for i, raw in enumerate(body.items):
        try:
            valid.append((i, EventBatchItem.model_validate(raw)))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            results[i] = BatchItemResult(
                index=i, outcome="error", error=BatchItemError(detail=validation_detail(exc), field=field)
            )
    outcomes = runtime.events.create_many(
        [(item.event, item.idempotency_key) for _, item in valid], actor=lambda event: f"api:{event.source}"
    )
    for (i, _), outcome in zip(valid, outcomes, strict=True):
        results[i] = _batch_result(i, outcome)
    done = [r for r in results if r is not None]
    return EventBatchOut(
        created=sum(r.outcome == "created" for r in done),
        replayed=sum(r.outcome == "replayed" for r in done),
        failed=sum(r.outcome == "error" for r in done),
        results=done,
    )


def _batch_result(index: int, outcome: BatchOutcome) -> BatchItemResult:
    exc = outcome.error
    if isinstance(exc, TaxonomyError):
        error = BatchItemError(detail=f"event.{exc}", field=f"event.{exc.field}", allowed=exc.allowed)
    elif isinstance(exc, IdempotencyConflict):
        error = BatchItemError(detail=str(exc), field="idempotency_key")
    else:
        return BatchItemResult(index=index, outcome="created" if outcome.created else "replayed", id=outcome.event_id)
    return BatchItemResult(index=index, outcome="error", error=error)


@router.get("", response_model=EventPage, responses=CODE_ERRORS)
def list_events(
    runtime: Runtime,
    flt: Filter,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Events per page.")] = 50,
) -> EventPage:
    return runtime.events.list(flt, cursor, limit)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **CODE_ERRORS},
)
def stream_events(
    request: Request,
    runtime: Runtime,
    flt: Filter,
    last_event_id: Annotated[
        str | None, Header(description="The id of the last message seen; the stream resumes after it.")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: `id:` is the outbox seq, `event:` created | updated | transition,
    `data:` the change with the event as it is now. Without Last-Event-ID it starts now."""
    service = runtime.events
    service.check_filter(flt)  # a bad code is a 422 now, not a stream that ends at once
    after = head = service.last_seq()
    if last_event_id is not None:
        try:
            after = int(last_event_id)
        except ValueError:
            raise HTTPException(422, "Last-Event-ID: must be an id this stream sent (a number)") from None
        # An id beyond the outbox comes from a database that has since been replaced:
        # from the start of this one, rather than waiting for seqs to catch up.
        after = 0 if after > head else after
    return StreamingResponse(
        change_stream(request, service, flt, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _not_found(event_id: str) -> HTTPException:
    return HTTPException(404, f"event {event_id!r} not found")


@router.get("/{event_id}", response_model=EventOut, responses={404: {"model": ErrorOut}})
def get_event(event_id: EventId, runtime: Runtime) -> EventOut:
    try:
        return runtime.events.get(event_id)
    except EventNotFound:
        raise _not_found(event_id) from None


@router.post(
    "/{event_id}/transitions",
    response_model=EventOut,
    responses={404: {"model": ErrorOut}, 409: {"description": "Not allowed from the current status."}, **CODE_ERRORS},
)
def transition_event(event_id: EventId, body: TransitionIn, runtime: Runtime) -> EventOut | Response:
    try:
        return runtime.events.transition(event_id, body.to_status, body.actor, body.comment, body.close_reason)
    except EventNotFound:
        raise _not_found(event_id) from None
    except TransitionError as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc), "allowed": exc.allowed})


@router.get(
    "/{event_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorOut}},
)
def event_snapshot(event_id: EventId, runtime: Runtime) -> Response:
    try:
        jpeg = runtime.events.snapshot(event_id)
    except EventNotFound:
        raise _not_found(event_id) from None
    if jpeg is None:
        raise HTTPException(404, f"event {event_id!r} has no snapshot")
    # An event's picture is replaced while its incident lasts: caches must ask again.
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
