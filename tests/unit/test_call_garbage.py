"""What a call leaves behind is freed when it ends, not at Python's next full collection."""

from __future__ import annotations

import gc
import weakref

from agent_worker.memory import collect_call_garbage, freeze_startup_objects


class Buffer:
    """Stands for an object of a call holding native memory (an audio frame, an SDK handle)."""

    def __init__(self) -> None:
        self.owner: object = None


async def test_a_calls_cycles_are_freed_when_it_ends() -> None:
    freeze_startup_objects()
    gc.disable()  # no automatic collection in between: the call's end is what frees it
    try:
        assert gc.get_freeze_count() > 0
        session, buffer = Buffer(), Buffer()
        session.owner, buffer.owner = buffer, session  # a cycle, as the framework's objects are
        left = weakref.ref(buffer)
        del session, buffer
        assert left() is not None  # reference counting alone never frees a cycle
        await collect_call_garbage()
        assert left() is None
    finally:
        gc.enable()
        gc.unfreeze()
