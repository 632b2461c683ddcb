"""Work-arounds for Kopf behaviour that does not scale; applied once, before `kopf.run()`.

Kopf holds every object's handlers back until all indexes are pre-populated: during the
initial listing each object gets a toggle in one `ToggleSet`, and each object's worker,
once it has indexed its object, drops its toggle and waits on the set. Kopf's
`make_toggle`/`drop_toggle` call `notify_all()` on the set's condition every time, so
each of N objects wakes every worker still waiting: O(N^2) wake-ups. With 1000
workflows (4000-6000 objects) the operator spends minutes of CPU in that barrier
before its first decision (see BENCHMARKS.md). The waiters only wait for the set's
overall state (`is_on()`), so notifying them when that state flips is equivalent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("flowplane")
_MARK = "_flowplane_flip_only_notify"


def fast_index_barrier() -> bool:
    """Make Kopf's ToggleSet notify its waiters only when its overall state changes.

    Returns False (and changes nothing) when this Kopf's internals are not as expected.
    """
    try:
        from kopf._cogs.aiokits import aiotoggles
    except ImportError:  # pragma: no cover - a Kopf without this module
        log.warning("kopf internals changed; the index barrier fix is not applied")
        return False
    toggle_set: Any = aiotoggles.ToggleSet
    toggle: Any = aiotoggles.Toggle
    needed = ("make_toggle", "drop_toggle", "drop_toggles", "is_on")
    if not all(hasattr(toggle_set, name) for name in needed):  # pragma: no cover
        log.warning("kopf internals changed; the index barrier fix is not applied")
        return False
    if getattr(toggle_set, _MARK, False):
        return True

    def flip_only(change: Callable[..., Any]) -> Callable[..., Any]:
        async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            async with self._condition:
                before = self.is_on()
                result = change(self, *args, **kwargs)
                if self.is_on() != before:
                    self._condition.notify_all()
                return result
        method.__name__ = change.__name__
        return method

    def make_toggle(self: Any, value: bool = False, *, name: str | None = None) -> Any:
        made = toggle(value, name=name, condition=self._condition)
        self._toggles.add(made)
        return made

    def drop_toggle(self: Any, dropped: Any) -> None:
        self._toggles.discard(dropped)

    def drop_toggles(self: Any, dropped: Iterable[Any]) -> None:
        self._toggles.difference_update(dropped)

    toggle_set.make_toggle = flip_only(make_toggle)
    toggle_set.drop_toggle = flip_only(drop_toggle)
    toggle_set.drop_toggles = flip_only(drop_toggles)
    setattr(toggle_set, _MARK, True)
    return True
