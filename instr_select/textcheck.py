"""Checks every instruction and query passes: real text, of a bounded size.

Lone surrogates (from JSON escapes or undecodable argv bytes) crash tokenizers; an instruction of
only zero-width or control characters embeds to nothing; one huge instruction costs minutes.
"""

from __future__ import annotations

import unicodedata

MAX_INSTRUCTION_CHARS = 100_000
_INVISIBLE = {"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"}


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be an instruction or query, or None when it can (``text`` is stripped)."""
    if len(text) > MAX_INSTRUCTION_CHARS:
        return f"has {len(text):,} characters, above the limit of {MAX_INSTRUCTION_CHARS:,} (shorten it)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds an invalid character (lone surrogate U+{ord(text[exc.start]):04X}; write valid UTF-8)"
    if not any(unicodedata.category(ch) not in _INVISIBLE for ch in text):
        return "holds only invisible or control characters (write visible text)"
    return None
