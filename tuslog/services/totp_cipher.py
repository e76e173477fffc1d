"""TOTP secrets at rest: sealed with a key from ``TUSLOG_TOTP_KEYS`` when one is set.

A TOTP secret must be readable by the server, so it cannot be hashed like a password.
Sealing it (libsodium's SecretBox: XSalsa20-Poly1305, authenticated, random nonce) means
a copy of the database alone (a backup, a replica, an injected query) yields no usable
second factor; the key lives in the environment, apart from the data.

Stored forms: ``box1:<base64 nonce+ciphertext>``, or ``plain:<secret>`` when no key is
set (the zero-configuration start). Several keys may be given: the first seals, all
open, so keys can be rotated; secrets sealed with an older key (or unsealed) are sealed
again with the first key when next used (:meth:`TotpCipher.needs_reseal`) or all at
once by :func:`tuslog.services.totp.reseal_all`.
"""

import base64
import hashlib
from collections.abc import Sequence

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from tuslog import errors

_SEALED = "box1:"
_PLAIN = "plain:"


def _derive(key: str) -> bytes:
    """A 256-bit SecretBox key from a configured key string (32+ characters, checked by
    the settings). BLAKE2b with a purpose tag keeps these keys apart from any other use
    of the same string."""
    return hashlib.blake2b(
        key.encode(), digest_size=SecretBox.KEY_SIZE, person=b"tuslog-totp-v1"
    ).digest()


class TotpCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        self._boxes = [SecretBox(_derive(key)) for key in keys]

    @property
    def encrypts(self) -> bool:
        return bool(self._boxes)

    def seal(self, secret: str) -> str:
        if not self._boxes:
            return _PLAIN + secret
        sealed = bytes(self._boxes[0].encrypt(secret.encode()))
        return _SEALED + base64.urlsafe_b64encode(sealed).decode()

    def open(self, stored: str) -> str:
        """The secret; TOTP_KEY_MISSING if none of the configured keys sealed it."""
        if stored.startswith(_PLAIN):
            return stored.removeprefix(_PLAIN)
        sealed = base64.urlsafe_b64decode(stored.removeprefix(_SEALED))
        for box in self._boxes:
            try:
                return bytes(box.decrypt(sealed)).decode()
            except CryptoError:
                continue
        raise errors.TOTP_KEY_MISSING()

    def needs_reseal(self, stored: str) -> bool:
        """Whether ``stored`` is not sealed with the first key (unsealed, or an older key)."""
        if not self._boxes:
            return False  # never unsealed again: a sealed secret without its key fails to open
        if stored.startswith(_PLAIN):
            return True
        try:
            self._boxes[0].decrypt(base64.urlsafe_b64decode(stored.removeprefix(_SEALED)))
        except CryptoError:
            return True
        return False
