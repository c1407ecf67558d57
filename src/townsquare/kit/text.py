"""Parsing user text: #hashtags and @mentions."""

from __future__ import annotations

import functools
import re
import unicodedata

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


# --- human-visible names and short texts ------------------------------------------------------
#
# Names, titles and bios are shown to other people, so they must not carry characters that
# change how the text around them looks without being seen: bidirectional overrides and
# isolates ("photo\u202egnp.exe" shows as "photoexe.png"), zero-width and other invisible
# characters (an "admin" that is not "admin", a name that looks empty), and control
# characters. ``clean_text`` strips them and keeps everything visible: every script, combining
# marks, emoji with their joiners, variation selectors and flag tags.

#: Joiners: kept between letters or marks of scripts that need them (Arabic, Persian, Indic:
#: category Lo/Mn/Mc on both sides) and, for ZWJ, between emoji; removed elsewhere.
ZWNJ, ZWJ = "\u200c", "\u200d"
VS15, VS16 = "\ufe0e", "\ufe0f"
_BLACK_FLAG = "\U0001f3f4"
_CANCEL_TAG = "\U000e007f"
#: Visible characters that draw nothing: Hangul fillers, the braille blank, the combining
#: grapheme joiner, Khmer's invisible inherent vowels.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")
#: Line breaks a single line turns into a space (a multi-line text into "\n").
_LINE_BREAKS = frozenset("\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")


def _is_tag(char: str) -> bool:
    return "\U000e0020" <= char <= "\U000e007e"


def _is_emoji(char: str) -> bool:
    """Emoji-like enough to carry a ZWJ or VS16 (Unicode's emoji data is not in the stdlib)."""
    return unicodedata.category(char) == "So" or "\U0001f3fb" <= char <= "\U0001f3ff"


def _joins(char: str) -> bool:
    return unicodedata.category(char) in ("Lo", "Mn", "Mc")


def _variation_base(previous: str, selector: str) -> bool:
    """May ``selector`` (a variation selector) follow ``previous``?"""
    if selector in (VS15, VS16):
        return _is_emoji(previous) or previous in "0123456789#*"
    # Standardized and ideographic variation sequences (CJK names, Mongolian).
    return unicodedata.category(previous) == "Lo"


def _is_variation_selector(char: str) -> bool:
    return (
        "\ufe00" <= char <= "\ufe0f"
        or "\U000e0100" <= char <= "\U000e01ef"
        or "\u180b" <= char <= "\u180d"
        or char == "\u180f"
    )


def _drop_unconditional(text: str, *, multiline: bool) -> str:
    out: list[str] = []
    for char in text.replace("\r\n", "\n"):
        if char in _LINE_BREAKS or char == "\t":
            out.append("\n" if multiline and char != "\t" else " ")
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or char in _INVISIBLE_LETTERS:
            continue
        if category == "Cf" and char not in (ZWNJ, ZWJ, _CANCEL_TAG) and not _is_tag(char):
            continue  # bidi controls, zero width space, word joiner, BOM, soft hyphen, ...
        if "\ufdd0" <= char <= "\ufdef" or (ord(char) & 0xFFFE) == 0xFFFE:  # noncharacters
            continue
        out.append(char)
    return "".join(out)


def _drop_out_of_context(text: str) -> str:
    """Joiners, variation selectors and tags survive only where they do what they are for."""
    out: list[str] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        previous = out[-1] if out else ""
        following = text[index + 1] if index + 1 < length else ""
        if char == _BLACK_FLAG:
            # An emoji tag sequence (subdivision flags): the flag, tags, the cancel tag.
            end = index + 1
            while end < length and _is_tag(text[end]):
                end += 1
            if end < length and text[end] == _CANCEL_TAG and end > index + 1:
                out.append(text[index : end + 1])
                index = end + 1
                continue
            out.append(char)
        elif _is_tag(char) or char == _CANCEL_TAG:
            pass  # outside a flag's tag sequence
        elif char in (ZWNJ, ZWJ):
            if previous and following:
                letters = _joins(previous[-1]) and _joins(following)
                emoji = (
                    char == ZWJ
                    and (_is_emoji(previous[-1]) or previous[-1] == VS16)
                    and unicodedata.category(following) == "So"
                )
                if letters or emoji:
                    out.append(char)
        elif _is_variation_selector(char):
            if previous and _variation_base(previous[-1], char):
                out.append(char)
        else:
            out.append(char)
        index += 1
    return "".join(out)


def clean_text(text: str, *, multiline: bool = False) -> str:
    """``text`` without control, bidirectional and invisible characters, NFC-normalized and
    stripped of surrounding whitespace. A single line turns line breaks and tabs into spaces;
    a multi-line text keeps ``\\n``. Idempotent: cleaning a clean text changes nothing."""
    while True:
        cleaned = _drop_out_of_context(_drop_unconditional(text, multiline=multiline))
        cleaned = unicodedata.normalize("NFC", cleaned).strip()
        if cleaned == text:
            return cleaned
        text = cleaned


@functools.cache
def visible_pattern() -> str:
    """A JSON Schema pattern that holds exactly when ``clean_text`` leaves something: one
    character that it never removes. Removed, whatever their neighbours: controls (Cc),
    surrogates (Cs), format characters (Cf: bidi controls, zero-width ones; joiners and tags
    survive only next to a character this class accepts), white space (stripped when nothing
    else is left), the invisible letters, noncharacters and variation selectors.

    Written with literal characters (escaped only where the regex needs it). Surrogates are
    left out: a lone one cannot travel in UTF-8 JSON text, and schema tools that compile the
    pattern as Rust or ECMA regexes refuse a ``\\ud800-\\udfff`` range (schemathesis then
    treated the whole pattern as matching everything)."""
    removed = [
        code
        for code in range(0x110000)
        if not 0xD800 <= code <= 0xDFFF and _never_survives_alone(chr(code))
    ]
    ranges: list[tuple[int, int]] = []
    for code in removed:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    parts = [
        _class_char(low) + ("-" + _class_char(high) if high > low else "") for low, high in ranges
    ]
    return "[^" + "".join(parts) + "]"


def _never_survives_alone(char: str) -> bool:
    return (
        unicodedata.category(char) in ("Cc", "Cf")
        or char.isspace()
        or char in _INVISIBLE_LETTERS
        or _is_variation_selector(char)
        or "\ufdd0" <= char <= "\ufdef"
        or (ord(char) & 0xFFFE) == 0xFFFE
    )


def _class_char(code: int) -> str:
    char = chr(code)
    return "\\" + char if char in "\\]^-[" else char
