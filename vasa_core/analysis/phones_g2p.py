"""Spelling -> ARPAbet for words that the pocketsphinx dictionary lacks (names, neologisms, typos).

Forced alignment needs a pronunciation for every word of the transcript. A handful of English spelling rules
give a pronunciation that is wrong in detail but right in the features the mouth shows (a /m/ stays a bilabial,
an "oo" stays rounded), which is all the motion generator uses. Digits are spelled out first.
"""

from __future__ import annotations

import re

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Longest spellings first; each maps to ARPAbet phones (no stress digits, as PhoneSegment uses).
_GRAPHEMES: tuple[tuple[str, str], ...] = (
    ("tion", "SH AH N"),
    ("sion", "ZH AH N"),
    ("ough", "AO"),
    ("igh", "AY"),
    ("tch", "CH"),
    ("dge", "JH"),
    ("sch", "SH"),
    ("ch", "CH"),
    ("sh", "SH"),
    ("th", "TH"),
    ("ph", "F"),
    ("wh", "W"),
    ("ng", "NG"),
    ("ck", "K"),
    ("qu", "K W"),
    ("kn", "N"),
    ("wr", "R"),
    ("ee", "IY"),
    ("ea", "IY"),
    ("ie", "IY"),
    ("oo", "UW"),
    ("ou", "AW"),
    ("ow", "OW"),
    ("oa", "OW"),
    ("ai", "EY"),
    ("ay", "EY"),
    ("ei", "EY"),
    ("ey", "EY"),
    ("oi", "OY"),
    ("oy", "OY"),
    ("au", "AO"),
    ("aw", "AO"),
    ("ew", "UW"),
    ("ue", "UW"),
    ("ar", "AA R"),
    ("er", "ER"),
    ("ir", "ER"),
    ("ur", "ER"),
    ("or", "AO R"),
    ("a", "AE"),
    ("b", "B"),
    ("d", "D"),
    ("e", "EH"),
    ("f", "F"),
    ("g", "G"),
    ("h", "HH"),
    ("i", "IH"),
    ("j", "JH"),
    ("k", "K"),
    ("l", "L"),
    ("m", "M"),
    ("n", "N"),
    ("o", "AA"),
    ("p", "P"),
    ("q", "K"),
    ("r", "R"),
    ("s", "S"),
    ("t", "T"),
    ("u", "AH"),
    ("v", "V"),
    ("w", "W"),
    ("x", "K S"),
    ("z", "Z"),
)
_SOFT_C_G = {"c": "S", "g": "JH"}  # before e, i, y ("city", "gem")
_HARD_C_G = {"c": "K", "g": "G"}


def spell_digits(token: str) -> list[str]:
    """'2024' -> ['two', 'zero', 'two', 'four']; mouth shapes, not grammar, are what matter here."""
    return [DIGIT_WORDS[int(ch)] for ch in token if ch.isdigit()]


def normalize_transcript(text: str) -> list[str]:
    """Lower-case words of letters and apostrophes; digits spelled out; everything else separates words."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    words: list[str] = []
    for token in re.findall(r"[a-z']+|[0-9]+", text):
        if token[0].isdigit():
            words.extend(spell_digits(token))
        else:
            token = token.strip("'")
            if token:
                words.append(token)
    return words


def guess_pronunciation(word: str) -> str:
    """Space-separated ARPAbet for a lower-case word, from spelling rules. Never empty for a word with letters."""
    letters = re.sub(r"[^a-z]", "", word.lower())
    if len(letters) > 2 and letters.endswith("e") and letters[-2] not in "aeiouy":
        letters = letters[:-1]  # silent final e ("make")
    phones: list[str] = []
    i = 0
    while i < len(letters):
        ch = letters[i]
        nxt = letters[i + 1] if i + 1 < len(letters) else ""
        if ch in _SOFT_C_G:
            phones.append(_SOFT_C_G[ch] if nxt in ("e", "i", "y") else _HARD_C_G[ch])
            i += 1
            continue
        if ch == "y":
            phones.append("Y" if i == 0 else ("IY" if i == len(letters) - 1 else "IH"))
            i += 1
            continue
        for spelling, arpabet in _GRAPHEMES:
            if letters.startswith(spelling, i):
                if not phones or phones[-1] != arpabet:  # doubled consonants ("ll", "tt") are one phone
                    phones.append(arpabet)
                i += len(spelling)
                break
        else:
            i += 1
    return " ".join(phones) if phones else "AH"
