"""The article's ring queue (digest 2.2), modelled by its semantics, not its atomics.

The article packs the read index (low 32 bits) and the write index (high 32 bits) of a
ring of ``capacity`` slots into one 64-bit word. The ring is empty when the indices are
equal and full when advancing the write index would make them equal, so one slot is
always kept free: a ring of capacity C holds at most C - 1 requests. (The article's
YIELD_HINT flag at bit 33 lands inside the write index and its fullness test is wrong;
mbsim keeps no such flag - there are no goroutines to yield - and uses the correct test.)

Here the ring is a FIFO whose *capacity* can change while it holds items (the
mountain-bike buffer re-sizes it): a smaller capacity refuses new items until enough
have been taken out; it never drops what it holds.
"""
from __future__ import annotations

from collections import deque
from typing import Any


class Ring:
    """FIFO with ``capacity`` slots, one reserved: at most ``capacity - 1`` items."""

    __slots__ = ("_items", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"a ring needs at least 2 slots, got {capacity}")
        self.capacity = capacity
        self._items: deque[Any] = deque()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def usable(self) -> int:
        """Items the ring can hold at its current capacity."""
        return self.capacity - 1

    def full(self) -> bool:
        return len(self._items) >= self.capacity - 1

    def empty(self) -> bool:
        return not self._items

    def offer(self, item: Any) -> bool:
        """Append ``item`` unless the ring is full; True if it was taken."""
        if len(self._items) >= self.capacity - 1:
            return False
        self._items.append(item)
        return True

    def poll(self) -> Any:
        """Remove and return the oldest item (IndexError when empty)."""
        return self._items.popleft()

    def resize(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"a ring needs at least 2 slots, got {capacity}")
        self.capacity = capacity
