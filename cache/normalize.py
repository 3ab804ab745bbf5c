"""How message text is normalized before it becomes part of an exact-cache key.

The rule must never merge two messages that could deserve different answers, so it only removes
differences that carry no meaning. The normalized text is used for the key alone; the model
always sees what the user wrote.

1. Unicode NFC, and ``\\r\\n`` / ``\\r`` become ``\\n`` (same characters, different encodings).
2. A message is **code-like** when it contains a backtick or any line after the first starts
   with indentation: there, whitespace can be syntax (Python, YAML, Markdown). Code-like text
   only loses trailing whitespace on each line and blank lines around the whole message.
   "Indentation" is a tab or at least two spaces, so a stray single space after a line break
   in prose does not count.
3. Otherwise (prose), leading/trailing whitespace is trimmed and every run of whitespace,
   newlines included, becomes one space.
4. Case is **not** folded in general: "US" vs "us", "Apple" vs "apple", order ids and passwords
   change meaning with case. The one exception is the first word of a prose message when it is
   capitalized in the ordinary way (one capital letter, then only lowercase letters, no digits):
   "What is ..." and "what is ..." ask the same thing, because a sentence's first capital is
   grammar, not meaning. "US", "iPhone" or "A1" at the start are left alone.
"""

from __future__ import annotations

import unicodedata


def normalize_text(text: str) -> str:
    """Return the key form of one message's text, per the module's rule."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    if is_code_like(text):
        lines = [line.rstrip() for line in text.split("\n")]
        return "\n".join(lines).strip("\n")
    words = text.split()
    if words:
        words[0] = _fold_first_word(words[0])
    return " ".join(words)


def is_code_like(text: str) -> bool:
    """Whether whitespace in ``text`` may be significant (a backtick or an indented line)."""
    if "`" in text:
        return True
    return any(line.startswith(("\t", "  ")) and line.strip() for line in text.split("\n")[1:])


def _fold_first_word(word: str) -> str:
    letters = [ch for ch in word if ch.isalpha()]
    if any(ch.isdigit() for ch in word) or not letters:
        return word
    first, rest = letters[0], letters[1:]
    if first.isupper() and all(ch.islower() for ch in rest):
        return word.lower()
    return word
