"""Bounded retries with jittered exponential backoff ("full jitter").

The delay before retry n (1, 2, ...) is uniform in [0, min(cap, base * 2**(n-1))]:
many requests throttled at the same moment spread their retries instead of
coming back together. Every policy has a fixed number of attempts, so the
latency it may add is bounded (`max_added_seconds`).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass


def sleep(seconds: float) -> None:
    """The one place Dangol waits between its own retries (tests record it)."""
    time.sleep(seconds)


@dataclass(frozen=True)
class Backoff:
    attempts: int  # tries in all, the first one included
    base: float  # seconds: the ceiling of the first delay
    cap: float  # seconds: no single delay is longer

    def ceiling(self, retry: int) -> float:
        return min(self.cap, self.base * 2 ** (retry - 1))

    def wait(self, retry: int) -> None:
        """Sleep before retry `retry` (1 = the second attempt)."""
        sleep(random.uniform(0, self.ceiling(retry)))

    @property
    def max_added_seconds(self) -> float:
        return sum(self.ceiling(retry) for retry in range(1, self.attempts))


# A TransactWriteItems cancelled because a partition is throttling: 3 attempts,
# at most 0.1 + 0.2 s of waiting, then 503 THROTTLED.
THROTTLED_COMMIT = Backoff(attempts=3, base=0.1, cap=1.0)
# BatchGetItem answering with UnprocessedKeys (throttled partitions): 5 requests,
# at most 0.05 + 0.1 + 0.2 + 0.4 s of waiting, then 503 THROTTLED.
UNPROCESSED_KEYS = Backoff(attempts=5, base=0.05, cap=1.0)
# BatchWriteItem answering with UnprocessedItems (a job's writes on a throttled table): 8
# requests, at most 0.05 + 0.1 + 0.2 + 0.4 + 0.8 + 1.6 + 2 s of waiting, then ThrottledError
# (the job fails and runs again).
UNPROCESSED_ITEMS = Backoff(attempts=8, base=0.05, cap=2.0)
# A notification's status write after its claim (the outcome of the SES/SNS call, or
# the claim released):
# 3 attempts, at most 0.1 + 0.2 s of waiting (in the queue handler, not the API).
SETTLE_DELIVERY = Backoff(attempts=3, base=0.1, cap=1.0)
