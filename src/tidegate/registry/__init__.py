"""OCI distribution client: references, credentials, auth, manifests, blobs and copies.

ref = ImageRef.parse("ghcr.io/acme/web:v1")
async with RegistryClient(CredentialStore(config_path)) as client:
    resolved = await client.resolve(ref)      # Resolved(digest, media_type, size)
    pinned = ref.with_digest(resolved.digest)
    result = await client.copy(pinned, ImageRef.parse("ghcr.io/acme/web:production"))
    # copying.CopyResult(digest, media_type, mounted, uploaded, skipped, bytes)
"""

from tidegate.registry.auth import RegistryAuth
from tidegate.registry.client import Manifest, RegistryClient, Resolved
from tidegate.registry.credentials import CredentialLookup, Credentials, CredentialStore
from tidegate.registry.errors import (
    InvalidReference,
    ManifestNotFound,
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryRefused,
    RegistryUnreachable,
)
from tidegate.registry.hosts import api_host, is_loopback
from tidegate.registry.manifests import MANIFEST_MEDIA_TYPES
from tidegate.registry.reference import ImageRef

__all__ = [
    "MANIFEST_MEDIA_TYPES",
    "CredentialLookup",
    "CredentialStore",
    "Credentials",
    "ImageRef",
    "InvalidReference",
    "Manifest",
    "ManifestNotFound",
    "RegistryAuth",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryError",
    "RegistryProtocolError",
    "RegistryRefused",
    "RegistryUnreachable",
    "Resolved",
    "api_host",
    "is_loopback",
]
