"""The kubelet's container restart back-off (CrashLoopBackOff).

A container that exits is restarted at once the first time; after that each
restart waits, counted from the container's exit, 10 s, then 20 s, 40 s ...
up to 5 minutes. A container that had run for ``reset_after`` (10 minutes)
before it exited starts over at the first step, as upstream's kubelet does.
"""
from __future__ import annotations

INITIAL = 10.0
MAX = 300.0
RESET_AFTER = 600.0

Key = tuple[str, str]  # (pod uid, container name)


class RestartBackoff:
    def __init__(self, initial: float = INITIAL, maximum: float = MAX, reset_after: float = RESET_AFTER) -> None:
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self._delay: dict[Key, float] = {}

    def wait(self, key: Key, finished_at: float, ran_for: float, now: float) -> float:
        """Seconds before ``key``, which exited at ``finished_at`` after a run of
        ``ran_for``, may restart (0: now)."""
        delay = self._delay.get(key)
        if delay is None or ran_for >= self.reset_after:
            return 0.0
        return max(0.0, finished_at + delay - now)

    def delay(self, key: Key) -> float:
        """The window in force (what the CrashLoopBackOff message names)."""
        return self._delay.get(key, 0.0)

    def restarting(self, key: Key, ran_for: float) -> None:
        """``key`` restarts now, after a run of ``ran_for`` seconds: widen the next window."""
        delay = self._delay.get(key)
        if delay is None or ran_for >= self.reset_after:
            self._delay[key] = self.initial
        else:
            self._delay[key] = min(self.maximum, delay * 2)

    def forget_pod(self, uid: str) -> None:
        for key in [k for k in self._delay if k[0] == uid]:
            del self._delay[key]
