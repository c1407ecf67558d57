"""Issue 13.8: ``kit.text.clean_text`` (the ``Visible`` annotation of names, titles and bios),
property-tested: never an invisible, bidirectional or control character out, every script and
emoji kept, idempotent, NFC."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, StringConstraints, ValidationError

from townsquare.kit.text import clean_text, visible_pattern
from townsquare.kit.validation import NoNul, Visible

#: Named by the issue; none may come out, whatever surrounds them.
NEVER = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"  # bidi
    "\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"  # zero width, invisible
    "\u115f\u1160\u3164\uffa0\u2800\u034f\U000e0001"  # fillers, blank, CGJ, language tag
)
ZWNJ, ZWJ, VS16, FLAG, CANCEL = "\u200c", "\u200d", "\ufe0f", "\U0001f3f4", "\U000e007f"

#: Any character at all, surrogates and unassigned ones included, with the interesting ones
#: (and the bases they may follow) drawn often.
interesting = st.sampled_from(
    [
        *sorted(NEVER),
        *(ZWNJ, ZWJ, VS16, "\ufe0e", "\ufe00", "\U000e0100", FLAG, CANCEL, "\U000e0067"),
        *("\n", "\r", "\t", "\x00", "\x07", "\x85", "\u2028", " ", "a", "ب", "👩", "💻", "🏽", "1"),
    ]
)
#: Built once here: the first build scans every code point (~0.3 s), past Hypothesis' deadline.
VISIBLE = re.compile(visible_pattern())
anything = st.text(st.one_of(st.characters(codec=None, categories=None), interesting))


def _is_tag(char: str) -> bool:
    return "\U000e0020" <= char <= "\U000e007f"


def _check_clean(text: str, *, multiline: bool) -> None:
    """An independent statement of what a clean text may hold."""
    assert text == text.strip()
    assert unicodedata.is_normalized("NFC", text)
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        previous = text[index - 1] if index else ""
        following = text[index + 1] if index + 1 < len(text) else ""
        assert char not in NEVER, (text, index)
        assert category != "Cs"
        if category == "Cc":
            assert multiline, (text, index)
            assert char == "\n", (text, index)
        assert char not in "\u2028\u2029\x85"
        if char in (ZWNJ, ZWJ):
            assert previous, (text, index)
            assert following, (text, index)
            letters = {unicodedata.category(c) for c in (previous, following)} <= {"Lo", "Mn", "Mc"}
            emoji = char == ZWJ and unicodedata.category(following) == "So"
            assert letters or emoji, (text, index)
        elif category == "Cf":
            # Only a subdivision flag's tags: the black flag, tag letters, the cancel tag.
            assert _is_tag(char), (text, index)
            start = index
            while start and _is_tag(text[start - 1]):
                start -= 1
            assert start, (text, index)
            assert text[start - 1] == FLAG, (text, index)
            end = index
            while end + 1 < len(text) and text[end] != CANCEL and _is_tag(text[end + 1]):
                end += 1
            assert text[end] == CANCEL, (text, index)
        elif "\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef":
            assert previous, (text, index)
            assert unicodedata.category(previous) in ("So", "Lo", "Sk") or previous in (
                "0123456789#*"
            ), (text, index)


@settings(max_examples=500)
@given(anything, st.booleans())
def test_nothing_forbidden_comes_out_and_cleaning_twice_changes_nothing(
    text: str, multiline: bool
) -> None:
    cleaned = clean_text(text, multiline=multiline)
    _check_clean(cleaned, multiline=multiline)
    assert clean_text(cleaned, multiline=multiline) == cleaned


#: Visible characters of every script: letters, marks, digits, punctuation, symbols, spaces
#: (less the few visible-category characters that draw nothing, and variation selectors,
#: which are kept only after a base they apply to).
visible = st.characters(
    categories=("L", "M", "N", "P", "S", "Zs"),
    exclude_characters="".join(sorted(NEVER))
    + "\u17b4\u17b5\u180b\u180c\u180d\u180f"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0)),
)


@settings(max_examples=500)
@given(st.text(visible))
def test_every_script_is_kept(text: str) -> None:
    assert clean_text(text) == unicodedata.normalize("NFC", text).strip()


@pytest.mark.parametrize(
    "kept",
    [
        "👩\u200d💻",  # ZWJ sequence
        "👨\u200d👩\u200d👧\u200d👦",
        "❤\ufe0f",  # VS16
        "🏳\ufe0f\u200d🌈",  # VS16 then ZWJ
        "👍🏽",  # skin tone
        "1\ufe0f\u20e3",  # keycap
        "🇫🇷",  # regional indicators
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
        "می\u200cخواهم",  # Persian ZWNJ
        "क\u094d\u200dष",  # Devanagari ZWJ
        "葛\U000e0100城",  # an ideographic variation sequence (Japanese names)
        "Ἀθηνᾶ שָׁלוֹם 김민준 Łukasz",
    ],
)
def test_emoji_and_script_sequences_are_kept(kept: str) -> None:
    assert clean_text(kept) == kept
    assert clean_text(f"\u202e{kept}\u200b") == kept


@pytest.mark.parametrize(
    ("raw", "single", "multi"),
    [
        ("photo\u202egnp.exe", "photognp.exe", "photognp.exe"),
        ("ad\u200bmin", "admin", "admin"),
        ("ad\u200dmin", "admin", "admin"),  # a joiner between Latin letters does nothing
        ("a\u00adb\u2060c", "abc", "abc"),
        ("x\ty\r\nz\u2028w", "x y z w", "x y\nz\nw"),
        ("e\u0301", "\u00e9", "\u00e9"),  # NFC
        ("\U000e0041\U000e007fTag", "Tag", "Tag"),  # tags outside a flag
        ("a\ufe0f", "a", "a"),  # an emoji selector after a letter
        (" \u3164 \u2800 ", "", ""),
    ],
)
def test_what_is_stripped(raw: str, single: str, multi: str) -> None:
    assert clean_text(raw) == single
    assert clean_text(raw, multiline=True) == multi


class Form(BaseModel):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=3),
        NoNul,
        Visible(3),
    ]


def test_the_annotation_refuses_an_empty_result_and_an_overlong_one() -> None:
    assert Form(name=" a\u202eb ").name == "ab"
    for bad in ("\u200b", "\u202e\u202c", "\x00"):
        with pytest.raises(ValidationError) as refused:
            Form(name=bad)
        assert refused.value.errors()[0]["loc"] == ("name",)
    # NFC lengthens U+0958 (a composition exclusion) to two characters: checked after cleaning.
    with pytest.raises(ValidationError):
        Form(name="\u0958\u0958")


@settings(max_examples=500)
@given(anything)
def test_the_documented_pattern_holds_exactly_when_something_visible_is_left(text: str) -> None:
    """The contract's pattern for a required name (``kit.text.visible_pattern``) must agree
    with the server: a text it allows keeps a visible character, one it refuses keeps none."""
    # Lone surrogates aside: UTF-8 JSON text cannot carry them (the pattern leaves them out).
    text = "".join(char for char in text if not "\ud800" <= char <= "\udfff")
    assert bool(VISIBLE.search(text)) == bool(clean_text(text))


def test_a_required_visible_field_documents_the_pattern_an_optional_one_does_not() -> None:
    class Names(BaseModel):
        required: Annotated[str, StringConstraints(max_length=10), NoNul, Visible(10)]
        optional: Annotated[str, Visible(10, required=False)] = ""

    properties = Names.model_json_schema()["properties"]
    pattern = re.compile(properties["required"]["pattern"])
    assert pattern.search("a\u200b")
    assert pattern.search("\u0627")
    assert not pattern.search("\u200b\ufe00 ")
    assert not pattern.search("a\x00")
    assert "pattern" not in properties["optional"]


def test_schema_tools_compile_the_pattern_as_it_is_meant() -> None:
    """Schemathesis checks answers with a Rust (ECMA-like) regex engine; a pattern that engine
    cannot compile was silently taken to match everything."""
    from schemathesis.core.jsonschema.patterns import is_valid_jsonschema_rs_regex

    assert is_valid_jsonschema_rs_regex(visible_pattern())
