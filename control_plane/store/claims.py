"""Claiming rows for background work, shared by the store's job queues (knowledge items,
voice previews, conversation analyses).

A claim is atomic across control planes on one store: the candidates are read with
`FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite serialises writers), and the update that takes
them repeats the conditions, so a row another job claimed in between is not taken twice.
Each claimed row is held until `now + lease`; a job that dies loses nothing, its claim ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute


async def claim_rows(
    session: AsyncSession,
    *,
    key: InstrumentedAttribute[Any],
    locked_until: InstrumentedAttribute[Any],
    due: ColumnElement[bool],
    order_by: Any,
    now: datetime,
    lease: timedelta,
    limit: int,
    values: dict[str, Any],
) -> tuple[list[Any], datetime]:
    """Claim up to `limit` rows that are `due` and not held by another job: their keys, and
    the time they are held until. `values` are set on each claimed row with the hold."""
    unclaimed = or_(locked_until.is_(None), locked_until < now)
    candidates = (
        await session.scalars(
            select(key)
            .where(due, unclaimed)
            .order_by(order_by)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    until = now + lease
    if not candidates:
        return [], until
    table = key.class_
    claimed = (
        await session.scalars(
            update(table)
            .where(key.in_(candidates), due, unclaimed)
            .values(**{locked_until.key: until, **values})
            .returning(key)
            .execution_options(synchronize_session=False)
        )
    ).all()
    return list(claimed), until


async def finish_claimed(
    session: AsyncSession,
    *,
    key: InstrumentedAttribute[Any],
    locked_until: InstrumentedAttribute[Any],
    value: Any,
    claimed_until: datetime,
    values: dict[str, Any],
) -> bool:
    """Record a claimed row's outcome (`values`, the hold released) if the claim is still the
    job's: one whose claim expired and was taken over records nothing."""
    result = await session.execute(
        update(key.class_)
        .where(key == value, locked_until == claimed_until)
        .values(**{locked_until.key: None, **values})
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
