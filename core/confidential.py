"""Confidential data at rest: a tip-off reporter's identity and the fields a channel marks secret.

Values are sealed with AES-GCM under a key from the settings (``HUYING_DATA_KEY``, or derived from
``HUYING_SECRET_KEY``), so a database dump, a backup or a log line carries no identity. Only the
order view opens them, for centre users, and fully only on the audited ``reveal_contact`` action.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
HIDDEN = "（保密）"


class Sealer:
    def __init__(self, secret: str):
        self.secret = secret
        self._aead = AESGCM(hashlib.sha256(b"huying-confidential\0" + secret.encode()).digest())

    def seal(self, text: str) -> str:
        if not text or text.startswith(PREFIX):
            return text
        nonce = os.urandom(12)
        return PREFIX + base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, text.encode(), None)).decode()

    def open(self, value: str) -> str:
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return value
        raw = base64.urlsafe_b64decode(value[len(PREFIX):])
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()
