"""Failed sign-ins slow down per user name and per address; success forgets the name."""

from __future__ import annotations

from tidegate.security.throttle import SignInThrottle, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail_times(throttle: Throttle, key: str, times: int) -> None:
    for _ in range(times):
        assert throttle.wait(key) == 0
        throttle.failed(key)


def test_five_free_failures_then_doubling_waits_up_to_the_cap() -> None:
    clock = Clock()
    throttle = Throttle(free=5, window=900, base=10, cap=900, clock=clock)
    fail_times(throttle, "alice", 4)
    assert throttle.wait("alice") == 0
    throttle.failed("alice")  # the fifth
    assert throttle.wait("alice") == 10
    waits = []
    for _ in range(8):
        clock.now += throttle.wait("alice")
        assert throttle.wait("alice") == 0
        throttle.failed("alice")
        waits.append(throttle.wait("alice"))
    assert waits == [20, 40, 80, 160, 320, 640, 900, 900]
    assert throttle.wait("bob") == 0  # another name is not slowed down


def test_a_quiet_window_after_the_lock_forgets_the_failures() -> None:
    clock = Clock()
    throttle = Throttle(free=5, window=900, base=10, cap=900, clock=clock)
    fail_times(throttle, "alice", 5)
    clock.now += 10 + 899  # the lock ended 899 seconds ago: still remembered
    throttle.failed("alice")
    assert throttle.wait("alice") == 20
    clock.now += 20 + 900
    assert throttle.wait("alice") == 0
    throttle.failed("alice")  # counted from one again
    assert throttle.wait("alice") == 0


def test_success_forgets_the_name_but_not_a_spray_from_one_address() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock=clock)
    for _ in range(5):
        assert throttle.attempt("alice", "10.0.0.1") == 0
    assert throttle.attempt("alice", "10.0.0.1") == 10  # refused: nothing counted
    # From elsewhere, the name is locked just the same (the guesser may move).
    assert throttle.attempt("alice", "10.0.0.2") == 10
    clock.now += 10
    assert throttle.attempt("alice", "10.0.0.1") == 0
    throttle.succeeded("alice", "10.0.0.1")
    assert throttle.attempt("alice", "10.0.0.1") == 0  # forgotten
    throttle.succeeded("alice", "10.0.0.1")

    # One address guessing at many names: 20 free failures, then it waits.
    for n in range(19):
        assert throttle.attempt(f"user{n}", "10.0.0.9") == 0
    assert throttle.attempt("user-last", "10.0.0.9") == 0  # the 20th failure of it
    assert throttle.attempt("carol", "10.0.0.9") == 10
    assert throttle.attempt("carol", "10.0.0.8") == 0  # carol herself, elsewhere


def test_memory_is_bounded() -> None:
    clock = Clock()
    throttle = Throttle(free=5, clock=clock, max_keys=100)
    for n in range(1000):
        throttle.failed(f"name{n}")
    assert len(throttle._keys) <= 100
    assert throttle.wait("name999") == 0 and "name999" in throttle._keys
