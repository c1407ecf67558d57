"""The text of account emails (plain text and HTML parts)."""

from __future__ import annotations

from datetime import timedelta
from html import escape
from urllib.parse import urlencode

from townsquare.config import Settings
from townsquare.kit.mail import Mail


def _link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}{path}?{urlencode({'token': token})}"


def _hours(ttl: timedelta) -> str:
    minutes = int(ttl.total_seconds() // 60)
    return f"{minutes // 60} hours" if minutes >= 120 else f"{minutes} minutes"


def _mail(to: str, subject: str, intro: str, link: str, token: str, outro: str) -> Mail:
    text = f"{intro}\n\n{link}\n\nOr enter this code in the app: {token}\n\n{outro}\n"
    html = (
        f"<p>{escape(intro)}</p>"
        f'<p><a href="{escape(link)}">{escape(link)}</a></p>'
        f"<p>Or enter this code in the app: <code>{escape(token)}</code></p>"
        f"<p>{escape(outro)}</p>"
    )
    return Mail(to=to, subject=subject, text=text, html=html)


def verification(settings: Settings, to: str, token: str, ttl: timedelta) -> Mail:
    return _mail(
        to,
        "Confirm your email address",
        "Welcome to Townsquare! Confirm your email address with this link:",
        _link(settings, "/verify-email", token),
        token,
        f"The link works once and expires in {_hours(ttl)}. "
        "If you did not sign up, ignore this email.",
    )


def password_reset(settings: Settings, to: str, token: str, ttl: timedelta) -> Mail:
    return _mail(
        to,
        "Reset your password",
        "Someone asked to reset the password of your Townsquare account. To choose a new one:",
        _link(settings, "/reset-password", token),
        token,
        f"The link works once and expires in {_hours(ttl)}. "
        "If you did not ask for this, ignore this email; your password stays the same.",
    )
