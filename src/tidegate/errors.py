"""Tidegate's exception tree.

    TidegateError
    ├── PayloadError          a webhook body we cannot turn into events (HTTP 400)
    ├── PayloadTooLarge       a webhook body over the size limit (HTTP 413)
    ├── Unverified            a webhook its source cannot verify as its sender's (HTTP 401)
    ├── WorkflowError         a workflow file that does not validate
    ├── ExpressionError       a `${{ }}` or CEL expression that does not compile or evaluate
    ├── NotFound              an id that names nothing (HTTP 404)
    ├── Forbidden             a caller without the role for an action (HTTP 403)
    ├── Conflict              an action the current state does not allow (HTTP 409)
    ├── OutboundRefused       a request to a host outside its allow-list
    ├── SignInRefused         a web UI sign-in refused (identity provider, account)
    └── StepFailed            the user's step failed (exit code, rejection, timeout)

A docstring doubles as the default message.
"""

from __future__ import annotations


class TidegateError(Exception):
    """Tidegate failed."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class PayloadError(TidegateError):
    """The webhook body is not a valid payload for this source."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class PayloadTooLarge(TidegateError):
    """The webhook body is larger than the server accepts."""


class Unverified(TidegateError):
    """The webhook could not be verified as coming from its sender."""


class WorkflowError(TidegateError):
    """The workflow is not valid."""


class ExpressionError(TidegateError):
    """The expression is not valid."""


class NotFound(TidegateError):
    """Not found."""


class Forbidden(TidegateError):
    """Your role does not allow this action."""


class Conflict(TidegateError):
    """The current state does not allow this action."""


class OutboundRefused(TidegateError):
    """The destination host is not on the allow-list."""


class SignInRefused(TidegateError):
    """The sign-in was refused."""

    def __init__(self, message: str | None = None, *, status: int = 400) -> None:
        # 400: a bad or stale answer; 403: the account may not sign in; 502: the
        # identity provider could not be reached or answered nonsense.
        self.status = status
        super().__init__(message)


class StepFailed(TidegateError):
    """The step failed."""

    def __init__(self, message: str | None = None, *, status: str = "failed") -> None:
        # "failed" or "timed_out": decides the run status it leads to. "undelivered" (a
        # callback's) leaves the run's status as it is (engine/steps/callback.py).
        self.status = status
        super().__init__(message)
