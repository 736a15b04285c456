"""Unicode-aware text handling shared by the text metrics.

- ``nfc``: every text a metric compares is NFC-normalised first, so a precomposed "é" and
  "e" + combining acute are the same text.
- ``rouge_tokens``: rouge-score's tokenizer extended beyond ASCII. rouge-score lowercases,
  turns everything but ``[a-z0-9]`` into spaces and splits, so any non-ASCII text has no
  tokens and identical Japanese, Arabic, Cyrillic or Greek texts score 0. Here a token is a
  run of Unicode letters, combining marks and digits (underscore and punctuation separate
  words, as in rouge-score), except that Han, Hiragana and Katakana characters — scripts
  written without spaces — are one token each. On ASCII text the tokens are exactly
  rouge-score's, including Porter stemming of tokens longer than 3 characters; the (English)
  stemmer is applied to ASCII tokens only.
- ``squad_tokens``: the SQuAD evaluation script's normalisation (lowercase, drop punctuation,
  drop the English articles a/an/the, split on whitespace), extended to Unicode as the MLQA
  evaluation script does: Unicode punctuation (categories P*) is dropped as well as ASCII
  ``string.punctuation``, and Han, Hiragana and Katakana characters are one token each. On
  ASCII text it equals the official script exactly.
"""

from __future__ import annotations

import re
import string
import unicodedata

import regex

_SPACELESS = r"\p{Han}\p{Hiragana}\p{Katakana}"
ROUGE_TOKEN = regex.compile(rf"[{_SPACELESS}]|(?:(?![{_SPACELESS}])[\p{{L}}\p{{M}}\p{{N}}])+")
SPACELESS_CHAR = regex.compile(rf"([{_SPACELESS}])")
ASCII_TOKEN = re.compile(r"^[a-z0-9]+$")
ASCII_WORD = re.compile(r"[a-z0-9]+")
ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = str.maketrans("", "", string.punctuation)
PUNCTUATION = regex.compile(r"[\p{P}" + regex.escape(string.punctuation) + "]+")


def nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _drop_punctuation(text: str) -> str:
    if text.isascii():
        return text.translate(_ASCII_PUNCTUATION)
    return PUNCTUATION.sub("", text)


def squad_tokens(text: str) -> list[str]:
    text = _drop_punctuation(nfc(text).lower())
    text = ARTICLES.sub(" ", text)
    if not text.isascii():
        text = SPACELESS_CHAR.sub(r" \1 ", text)
    return text.split()


def squad_normalize(text: str) -> str:
    return " ".join(squad_tokens(text))


class RougeTokenizer:
    """A rouge-score ``Tokenizer`` (``tokenize(text) -> list[str]``), see the module docstring."""

    def __init__(self, use_stemmer: bool = False, stop_words: frozenset[str] = frozenset()):
        # Tokens in ``stop_words`` (lowercase, before stemming) are dropped.
        self.stop_words = stop_words
        if use_stemmer:
            from nltk.stem import porter  # rouge-score's own dependency and stemmer

            self.stemmer = porter.PorterStemmer()
        else:
            self.stemmer = None

    def tokenize(self, text: str) -> list[str]:
        text = text.lower()
        # On ASCII, rouge-score's own rule (and faster than the Unicode pattern).
        tokens = ASCII_WORD.findall(text) if text.isascii() else ROUGE_TOKEN.findall(nfc(text))
        if self.stop_words:
            tokens = [t for t in tokens if t not in self.stop_words]
        if self.stemmer is None:
            return tokens
        return [self.stemmer.stem(t) if len(t) > 3 and ASCII_TOKEN.match(t) else t for t in tokens]
