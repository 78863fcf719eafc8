"""RSA key pairs for the JWT logins' tests: the private key a client signs with, and the
public key the stand-in verifies against (the connected app's certificate)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: str

    @property
    def body(self) -> list[str]:
        """The PEM's base64 lines: none may show in an error."""
        return [line for line in self.private_pem.decode().splitlines() if "-----" not in line]

    def write(self, path: Path) -> Path:
        path.write_bytes(self.private_pem)
        return path


def key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private, public.decode())
