"""Parsing user text: #hashtags and @mentions."""

from __future__ import annotations

import re

# A hashtag: '#' not preceded by a word character, then Unicode letters, digits or '_',
# with at least one letter (so "#1" is not a tag).
_HASHTAG = re.compile(r"(?<![\w#])#(\w*[^\W\d_]\w*)", re.UNICODE)
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,30})(?![\w@])")
MAX_TAG_LENGTH = 100


def extract_hashtags(text: str) -> list[str]:
    """Distinct hashtags in order of first use, as written (case preserved, without '#')."""
    seen: dict[str, str] = {}
    for match in _HASHTAG.finditer(text):
        tag = match.group(1)[:MAX_TAG_LENGTH]
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values())


def extract_mentions(text: str) -> list[str]:
    """Distinct @usernames in order of first use, lower-cased."""
    return list(dict.fromkeys(m.group(1).lower() for m in _MENTION.finditer(text)))
