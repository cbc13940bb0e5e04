"""The list queries reach their indexes: a district page is read from the district index in
list order, a cursor seeks into the time index instead of filtering from the newest row.
(The figures behind this are in benchmarks/results/events.json.)"""

from __future__ import annotations

from sqlalchemy import Engine, select

from tests.events.conftest import T0
from videohub.db import init_db, make_engine
from videohub.events.models import EventRow
from videohub.events.query import after_cursor, encode_cursor, filter_clauses, newest_first
from videohub.events.schema import EventFilter
from videohub.taxonomy import load_taxonomy


def _plan(engine: Engine, flt: EventFilter, cursor: str | None = None) -> str:
    stmt = select(EventRow).where(*filter_clauses(flt, load_taxonomy()))
    if cursor:
        stmt = stmt.where(after_cursor(cursor))
    compiled = stmt.order_by(*newest_first()).limit(51).compile(engine, compile_kwargs={"render_postcompile": True})
    params = tuple(compiled.params[name] for name in compiled.positiontup or [])
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params).all()
    return " | ".join(str(r[-1]) for r in rows)


def test_district_filter_uses_the_district_index_in_list_order(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/p.db")
    init_db(engine)
    flt = EventFilter(region=["150105"])
    sql = str(select(EventRow).where(*filter_clauses(flt, load_taxonomy())).compile(engine))
    # literal arguments: an expression index matches only the very same expression
    assert "substr(events.region_code, 1, 6)" in sql
    plan = _plan(engine, flt)
    assert "ix_events_district_time" in plan and "TEMP B-TREE" not in plan, plan
    # a town and the whole city keep the range on region_code
    assert "substr" not in str(
        select(EventRow).where(*filter_clauses(EventFilter(region=["150105003", "150100"]), load_taxonomy()))
    )
    engine.dispose()


def test_cursor_seeks_into_the_index(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/p.db")
    init_db(engine)
    cursor = encode_cursor(T0, "f" * 32)
    plan = _plan(engine, EventFilter(), cursor)
    assert "ix_events_time (occurred_at<?)" in plan, plan
    plan = _plan(engine, EventFilter(region=["150105"]), cursor)
    assert "ix_events_district_time" in plan and "occurred_at<?" in plan, plan
    engine.dispose()
