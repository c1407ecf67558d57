"""The text of notification emails: one notification, or a digest (plain text and HTML)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from townsquare.config import Settings
from townsquare.kit.mail import Mail
from townsquare.modules.notifications.models import Frequency

SETTINGS_PATH = "/settings/notifications"


@dataclass(frozen=True)
class DigestLine:
    text: str
    count: int
    action_url: str | None


def _absolute(settings: Settings, url: str | None) -> str | None:
    if url is None:
        return None
    if url.startswith("/"):
        return settings.public_url.rstrip("/") + url
    return url


def _footer(settings: Settings) -> tuple[str, str]:
    link = _absolute(settings, SETTINGS_PATH) or SETTINGS_PATH
    text = f"Choose what Townsquare emails you: {link}"
    html = f'<p><small><a href="{escape(link)}">Choose what Townsquare emails you</a></small></p>'
    return text, html


def single(
    settings: Settings, to: str, title: str, message: str | None, action_url: str | None
) -> Mail:
    link = _absolute(settings, action_url)
    footer_text, footer_html = _footer(settings)
    text_parts = [title]
    html_parts = [f"<p><strong>{escape(title)}</strong></p>"]
    if message:
        text_parts.append(message)
        html_parts.append(f"<p>{escape(message)}</p>")
    if link:
        text_parts.append(f"Open: {link}")
        html_parts.append(f'<p><a href="{escape(link)}">Open in Townsquare</a></p>')
    text_parts.append(footer_text)
    html_parts.append(footer_html)
    return Mail(to=to, subject=title, text="\n\n".join(text_parts) + "\n", html="".join(html_parts))


def digest(settings: Settings, to: str, frequency: Frequency, lines: list[DigestLine]) -> Mail:
    total = sum(line.count for line in lines)
    period = "hourly" if frequency is Frequency.HOURLY else "daily"
    subject = (
        f"Your {period} Townsquare digest: {total} new notification{'s' if total != 1 else ''}"
    )
    footer_text, footer_html = _footer(settings)
    text_lines, html_items = [], []
    for line in lines:
        link = _absolute(settings, line.action_url)
        text_lines.append(f"- {line.text}" + (f" ({link})" if link else ""))
        label = escape(line.text)
        html_items.append(
            f'<li><a href="{escape(link)}">{label}</a></li>' if link else f"<li>{label}</li>"
        )
    text = "Since your last digest:\n\n" + "\n".join(text_lines) + f"\n\n{footer_text}\n"
    html = f"<p>Since your last digest:</p><ul>{''.join(html_items)}</ul>{footer_html}"
    return Mail(to=to, subject=subject, text=text, html=html)
