"""A verifying TLS context that reads the CA bundle at its first handshake.

`ssl.create_default_context()` reads the system's CA bundle at once: 25 ms of CPU here,
more than a whole retag on a plain-HTTP local registry (skopeo's whole process: ~35 ms)
and a tenth of a `tidegate` command's start. Most CLI calls and registry copies on this
machine speak plain HTTP to loopback and never shake hands; they should not pay for it.

Everything else is `create_default_context`'s: TLS client, certificate and host name
required. Every handshake goes through `wrap_bio` (asyncio) or `wrap_socket` (blocking
sockets), which load the bundle first; should one ever not, it fails closed: with no CA
loaded, no certificate verifies.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any


class LazyCAContext(ssl.SSLContext):
    _loaded = False
    _loading = threading.Lock()

    def _load_cas(self) -> None:
        with self._loading:
            if not self._loaded:
                self.load_default_certs(ssl.Purpose.SERVER_AUTH)
                self._loaded = True

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_cas()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_cas()
        return super().wrap_socket(*args, **kwargs)


def verifying_context() -> ssl.SSLContext:
    """As `ssl.create_default_context()`, its CA bundle read at the first handshake."""
    context = LazyCAContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    return context
