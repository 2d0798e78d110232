"""The registry client's exceptions.

    TidegateError
    └── RegistryError              a registry request failed
        ├── InvalidReference       an image reference that does not parse (also a ValueError)
        ├── RegistryUnreachable    no answer: connection refused, timeout, 429/5xx to the end
        ├── RegistryAuthError      401/403 from the registry or its token service
        ├── ManifestNotFound       404: no such tag, digest or repository
        ├── BlobNotFound           404: no such blob (a layer or config)
        ├── RegistryProtocolError  an answer we cannot use (bad token JSON, digest mismatch)
        └── RegistryRefused        a host Tidegate may not contact (also an OutboundRefused)

Messages name where (`registry/repository:reference`, the reference being a blob's
digest for a blob), the HTTP status when there was one, and the registry's error code
when it sent a known one (`manifest unknown`); never the words of the answer (a page of
whatever service answered, an echo of the request), nor a password or token. A request
made for a larger task (a referrer copied along with an image) is prefixed with that
task (`within`).
"""

from __future__ import annotations

import copy

from tidegate.errors import OutboundRefused, TidegateError


class RegistryError(TidegateError):
    """The registry request failed."""

    def __init__(
        self,
        message: str | None = None,
        *,
        registry: str = "",
        repository: str = "",
        reference: str = "",
        status: int | None = None,
    ) -> None:
        self.detail = message or (self.__doc__ or "").strip()
        self.registry = registry
        self.repository = repository
        self.reference = reference
        self.status = status
        self.context = ""
        super().__init__(self._compose())

    def located(self, registry: str, repository: str, reference: str) -> RegistryError:
        """A copy naming the image it was about (errors from the auth flow know only a host)."""
        new = copy.copy(self)
        new.registry = self.registry or registry
        new.repository, new.reference = repository, reference
        new.message = new._compose()
        new.args = (new.message,)
        return new

    def within(self, context: str) -> RegistryError:
        """A copy whose message starts with `context`: what the failed request was for."""
        new = copy.copy(self)
        new.context = f"{context}: {self.context}" if self.context else context
        new.message = new._compose()
        new.args = (new.message,)
        return new

    @property
    def brief(self) -> str:
        """The message without where: for a caller whose own message names the image."""
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{self.context}: {status}{self.detail}" if self.context else status + self.detail

    def _compose(self) -> str:
        where = self.registry
        if self.repository:
            sep = "@" if ":" in self.reference else ":"  # digests hold a colon, tags cannot
            where = f"{where}/{self.repository}{sep + self.reference if self.reference else ''}"
        status = f"HTTP {self.status}: " if self.status is not None else ""
        text = f"{where}: {status}{self.detail}" if where else f"{status}{self.detail}"
        return f"{self.context}: {text}" if self.context else text


class InvalidReference(RegistryError, ValueError):
    """The image reference is not valid."""


class RegistryUnreachable(RegistryError):
    """The registry did not answer."""

    def __init__(
        self,
        message: str | None = None,
        *,
        registry: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        # Set for a 429/5xx from a token service, so the client can wait and retry.
        self.retry_after = retry_after
        super().__init__(message, registry=registry, status=status)


class RegistryAuthError(RegistryError):
    """The registry refused our credentials."""


class ManifestNotFound(RegistryError):
    """The registry has no such manifest."""


class BlobNotFound(RegistryError):
    """The registry has no such blob."""


class RegistryProtocolError(RegistryError):
    """The registry's answer is not one we can use."""


class RegistryRefused(RegistryError, OutboundRefused):
    """The host is not one Tidegate may contact."""
