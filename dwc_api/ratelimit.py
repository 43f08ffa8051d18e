"""Sliding-window rate limits per credential and per client address, shared by every worker and
host through Redis (the `limits` library's moving window); in-process only when no Redis is set."""

from __future__ import annotations

import logging
import math
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("dwc_api")


class RateLimits:
    def __init__(self, redis_url: str | None, credential: str, address: str, login: str, prefix: str = "dwc_api"):
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix=prefix)
            self.shared = True
        else:
            log.warning("rate limits are kept in this process only (set DWC_API_REDIS_URL to share them)")
            self.storage = storage_from_string("memory://")
            self.shared = False
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.items = {"credential": parse(credential), "address": parse(address), "login": parse(login)}

    def hit(self, kind: str, who: str) -> tuple[bool, dict]:
        """Count one request of `who` against the `kind` limit; (allowed, RateLimit-* headers)."""
        item = self.items[kind]
        allowed = self.limiter.hit(item, kind, who)
        stats = self.limiter.get_window_stats(item, kind, who)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        headers = {
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(stats.remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{item.amount};w={item.get_expiry()}",
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, reset))
        return allowed, headers

    def healthy(self) -> bool:
        try:
            return bool(self.storage.check())
        except Exception:
            return False

    def reset(self) -> None:
        self.storage.reset()
