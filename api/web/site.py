"""What the public pages share within one app (``Web``): the Jinja environment with each channel's
own form templates, the rate limiter, the attachment store and the signed receipt cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from pathlib import Path

import msgspec

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, TemplateNotFound, select_autoescape
from litestar.datastructures import Cookie

from api.web.protection import make_limiter, parse_limit
from api.web.uploads import StoredFile

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# submissions recorded, attempts (valid or not: a script hammering the form), look-ups
DEFAULT_LIMITS = {"submit": (20, 600), "attempt": (120, 600), "track": (30, 600)}
RECEIPT_COOKIE = "huying_receipt"
RECEIPT_SECONDS = 2 * 3600  # how long this browser is shown its last receipt and has /track prefilled


def _channel_template_dirs(platform) -> dict[str, Path]:
    """A plugin may ship ``templates/form.html`` beside its module to override its channel's form;
    the channel registry knows which plugin owns which channel."""
    found = {}
    for channel in platform.channels:
        folder = platform.channels.templates(channel.code)
        if folder is not None:
            found[channel.code] = folder
    return found


def filesize(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))} KB"


class Web:
    """What the web pages share within one app: templates, limiter, attachment store, signing key."""

    def __init__(self, platform, *, limits: dict[str, tuple[int, int]] | None = None):
        self.platform = platform
        self.limiter = make_limiter(platform.settings.redis_url, limits or DEFAULT_LIMITS)
        self.store = platform.attachments  # the core's store: staff download the files over the API
        self._key = hashlib.sha256(b"huying-web:" + platform.settings.secret_key.encode()).digest()
        plugin_dirs = _channel_template_dirs(platform)
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(TEMPLATES), PrefixLoader(
                {f"channel-{code}": FileSystemLoader(path) for code, path in plugin_dirs.items()})]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True, lstrip_blocks=True,
        )
        self.env.filters["filesize"] = filesize
        self.env.globals["css_version"] = hashlib.sha256(b"".join(
            (STATIC / name).read_bytes() for name in ("huying.css", "citizen.js"))).hexdigest()[:10]

    @classmethod
    def from_env(cls, platform, env: dict[str, str] | None = None) -> Web:
        env = os.environ if env is None else env
        return cls(platform, limits={
            "submit": parse_limit(env.get("HUYING_WEB_SUBMIT_LIMIT"), DEFAULT_LIMITS["submit"]),
            "attempt": parse_limit(env.get("HUYING_WEB_ATTEMPT_LIMIT"), DEFAULT_LIMITS["attempt"]),
            "track": parse_limit(env.get("HUYING_WEB_TRACK_LIMIT"), DEFAULT_LIMITS["track"]),
        })

    def form_template(self, code: str) -> str:
        """The channel's own template when it ships one, else the generic form."""
        for name in (f"channel-{code}/form.html", f"forms/{code}.html"):
            try:
                self.env.get_template(name)
                return name
            except TemplateNotFound:
                continue
        return "form.html"

    def sign(self, value: str) -> str:
        return f"{value}.{hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]}"

    def unsign(self, token: str) -> str | None:
        value, _, _ = (token or "").rpartition(".")
        return value if value and hmac.compare_digest(self.sign(value).encode(), (token or "").encode()) else None

    def receipt_cookie(self, number: str, query_code: str, *, secure: bool) -> Cookie:
        """The receipt of the order just filed, for the confirmation page and a prefilled /track."""
        value = self.sign(f"{number}:{query_code}:{int(time.time())}")
        return Cookie(key=RECEIPT_COOKIE, value=value, max_age=RECEIPT_SECONDS, path="/", httponly=True,
                      samesite="lax", secure=secure)

    def receipt_from_cookie(self, token: str) -> tuple[str, str] | None:
        parts = (self.unsign(token) or "").split(":")
        if len(parts) != 3 or not parts[2].isdigit() or time.time() - int(parts[2]) > RECEIPT_SECONDS:
            return None
        return parts[0], parts[1]

    def file_token(self, stored: StoredFile) -> str:
        """A file accepted in an earlier round, carried in the form; signed, so it cannot be forged."""
        return self.sign(base64.urlsafe_b64encode(msgspec.json.encode(stored)).decode().rstrip("="))

    def file_from_token(self, token: str) -> StoredFile | None:
        value = self.unsign(token) if isinstance(token, str) else None
        if value is None:
            return None
        try:
            return msgspec.json.decode(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), type=StoredFile)
        except (ValueError, msgspec.DecodeError):
            return None
