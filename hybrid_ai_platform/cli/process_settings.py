"""Process-wide interpreter settings changed for the length of overlapping blocks.

A plan tunes the interpreter for a while (the garbage collector's thresholds, the thread switch interval), and
threads may plan at once (``blueprint pr-check`` analyzes stacks in threads): :class:`SharedSetting` applies the
change when the first of overlapping blocks starts and restores the value it found then when the last one ends, so
a block that ends first does not undo the change under the others, nor the last one leave it behind.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedSetting(Generic[T]):
    """A setting read with ``read`` and written with ``write``, held by reference-counted blocks."""

    def __init__(self, read: Callable[[], T], write: Callable[[T], None]) -> None:
        self._read = read
        self._write = write
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: T | None = None

    @contextlib.contextmanager
    def held(self, change: Callable[[T], T]) -> Iterator[None]:
        """The setting ``change(value found)`` inside the block (the first block's change while blocks overlap)."""
        with self._lock:
            if self._holders == 0:
                self._saved = self._read()
                self._write(change(self._saved))
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    self._write(self._saved)  # type: ignore[arg-type]  # set when the first block began
