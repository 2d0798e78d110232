"""Push-back: tell the registry (callback) and people (notify) how a run went."""

from __future__ import annotations

from tidegate.pushback.callback import (
    CallbackResult,
    callback_payload,
    deliver_callback,
    redact_url,
)
from tidegate.pushback.notify import NotifyResult, redact_apprise_url, send_notification

__all__ = [
    "CallbackResult",
    "NotifyResult",
    "callback_payload",
    "deliver_callback",
    "redact_apprise_url",
    "redact_url",
    "send_notification",
]
