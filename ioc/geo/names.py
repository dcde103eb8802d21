"""Vietnamese place-name normalisation and collation."""

from __future__ import annotations

import re
import unicodedata

# Combining tone marks; vowel-quality marks (breve, circumflex, horn) are letters of their own.
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_APOSTROPHES = re.compile(r"[\u2019\u2018\u02bc\u02b9\u0060\u00b4\u2032]")
_DASH = re.compile(r"\s*[-\u2010\u2011\u2012\u2013\u2014\u2212]\s*")
_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")
# Longest first so "thành phố" wins over a shorter overlapping prefix.
_TYPE_PREFIXES = ("thủ đô", "thành phố", "tỉnh", "thị trấn", "đặc khu", "phường", "xã", "tp.", "tp")
# Vietnamese order, with the Latin letters it lacks (f j w z) placed as in English.
_ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_LETTER_RANK = {ch: i for i, ch in enumerate(_ALPHABET)}
_TOKENS = re.compile(r"\d+|.", re.DOTALL)


def _clean(text: str) -> str:
    """NFC, casefold, unify apostrophes/dashes/whitespace and the look-alike capital eth."""
    text = unicodedata.normalize("NFC", text).replace("Ð", "Đ").replace("ð", "đ").casefold()
    text = _APOSTROPHES.sub("'", text)
    text = _DASH.sub(" - ", text)
    return _SPACES.sub(" ", text).strip()


def strip_type(text: str) -> str:
    """Drop a leading administrative type ("Tỉnh", "Phường", "Đặc khu", ...) from a cleaned name."""
    for prefix in _TYPE_PREFIXES:
        if text.startswith(prefix + " ") and len(text) > len(prefix) + 1:
            return text[len(prefix) + 1 :].lstrip(". ")
    return text


def _syllable_key(syllable: str) -> str:
    # Old ("hoà", "thuỷ") and new ("hòa", "thủy") tone placement name the same place:
    # move the tone mark to the end of the syllable so both spellings agree.
    decomposed = unicodedata.normalize("NFD", syllable)
    tones = "".join(ch for ch in decomposed if ch in _TONES)
    base = "".join(ch for ch in decomposed if ch not in _TONES)
    tone = "".join(str(_TONES[t]) for t in tones)
    return unicodedata.normalize("NFC", base) + ("#" + tone if tone else "")


def name_key(name: str, *, strip_prefix: bool = True) -> str:
    """Comparison key: same key iff the same name up to case, spacing, dashes, apostrophes, tone placement."""
    text = _clean(name)
    if strip_prefix:
        text = strip_type(text)
    return " ".join(_syllable_key(s) for s in text.split(" "))


def fold_key(name: str, *, strip_prefix: bool = True) -> str:
    """Key without any diacritics (for typed input); distinct places may share it."""
    text = _clean(name)
    if strip_prefix:
        text = strip_type(text)
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Typed input often drops the dash or apostrophe too: "xuan huong da lat", "cu mgar".
    return _SPACES.sub(" ", _PUNCT.sub(lambda m: "" if m.group() == "'" else " ", bare)).strip()


def vi_sort_key(name: str) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...], str]:
    """Sort key in Vietnamese alphabetical order (a ă â b ... đ ...), numbers by value, tones last."""
    primary: list[tuple[int, int]] = []
    tones: list[int] = []
    for token in _TOKENS.findall(unicodedata.normalize("NFC", name).casefold()):
        if token.isdecimal():
            # "Móng Cái 2" before "Móng Cái 10".
            primary.append((1, int(token)))
            continue
        decomposed = unicodedata.normalize("NFD", token)
        letter = unicodedata.normalize("NFC", "".join(m for m in decomposed if m not in _TONES))
        tones.append(next((_TONES[m] for m in decomposed if m in _TONES), 0))
        if letter in _LETTER_RANK:
            primary.append((2, _LETTER_RANK[letter]))
        elif letter.isalpha():
            primary.append((3, ord(letter[0])))
        else:
            # Spaces and punctuation sort first, so "An Khánh" precedes "Anh Sơn".
            primary.append((0, 0))
    return tuple(primary), tuple(tones), name
