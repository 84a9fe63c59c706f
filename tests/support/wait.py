"""The one wait helper of the tests and benchmarks: poll a condition with a deadline."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

import pytest

T = TypeVar("T")


def fail(message: str) -> BaseException:
    """A test failure without a traceback of this helper."""
    try:
        pytest.fail(message, pytrace=False)
    except BaseException as failed:  # pytest's Failed: raised by the caller
        return failed
    raise AssertionError("unreachable")


def wait_until(check: Callable[[], T], timeout: float, what: str, *, interval: float = 0.2,
               details: Callable[[], str] | None = None,
               error: Callable[[str], BaseException] = fail) -> T:
    """Call `check` until it returns something other than None or False, and return that.

    `check` may raise to stop waiting early (a process that exited will never be ready).
    After `timeout` seconds raise error("WHAT not within N s" + details()), so the failure
    says what was awaited and shows the service's log.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            shown = details() if details else ""
            raise error(f"{what}: not within {timeout:g} s" + (f":\n{shown}" if shown else ""))
        time.sleep(interval)
