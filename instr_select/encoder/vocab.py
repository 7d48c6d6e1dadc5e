"""A WordPiece tokenizer trained with ``tokenizers`` on instruction text.

The vocabulary is built by hand (``build_vocab``) because it must be deterministic: the
``tokenizers`` WordPiece trainer breaks frequency ties in hash order, so the same texts would give
a different vocabulary, encoder and index on every run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PRE_TOKENIZERS = ("jinja", "bert")
# Jinja/promptsource markup kept whole: ``{{``, ``}}``, ``{%``, ``%}``, ``|||``, and identifiers with
# underscores (``answer_choices``, ``question_stem``): field names carry the dataset's identity.
JINJA_PIECES = r"\{\{|\}\}|\{%|%\}|\|\|\||\w+|[^\w\s]"


def train_wordpiece(texts: Sequence[str], vocab_size: int = 8000, min_frequency: int = 1, pre_tokenizer: str = "bert"):
    """A lowercasing WordPiece tokenizer (BERT normalizer) whose vocabulary is learned from ``texts``.

    ``pre_tokenizer``: "jinja" keeps template markup and underscore identifiers whole; "bert" is BERT's
    (splits every punctuation character, so ``{{answer_choices}}`` becomes 7 pieces). The vocabulary is
    the special tokens, every character seen (alone and as a ``##`` continuation), the most frequent
    words, then the most frequent word starts and ``##`` endings (ties by spelling) up to ``vocab_size``,
    so that words never seen in training split into pieces rather than characters. It is
    built in Python because the ``tokenizers`` WordPiece trainer breaks ties in hash order, so two
    trainings on the same texts give different vocabularies. The tokenizer carries BERT's special
    tokens (used by the Transformer option); the static encoder tokenizes without them.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    if pre_tokenizer == "jinja":
        splitter = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(JINJA_PIECES), behavior="isolated")]
        )
    else:
        splitter = pre_tokenizers.BertPreTokenizer()
    vocab = build_vocab(texts, vocab_size, min_frequency, normalizer, splitter)
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = splitter
    tokenizer.decoder = decoders.WordPiece()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return tokenizer


def build_vocab(texts: Sequence[str], vocab_size: int, min_frequency: int, normalizer, splitter) -> dict[str, int]:
    """Deterministic vocabulary: specials, characters (and ``##`` continuations), then frequent words."""
    words: Counter[str] = Counter()
    for text in texts:
        words.update(word for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({ch for word in words for ch in word})
    tokens = [*SPECIAL_TOKENS, *chars, *(f"##{ch}" for ch in chars)]
    ranked = sorted((w for w, n in words.items() if len(w) > 1 and n >= min_frequency), key=lambda w: (-words[w], w))
    tokens += ranked[: max(0, vocab_size - len(tokens))]
    # the rest of the budget: frequent word starts and ``##`` endings, so unseen words split into pieces
    pieces: Counter[str] = Counter()
    for word, count in words.items():
        for size in range(2, min(len(word), 9)):
            pieces[word[:size]] += count
            pieces["##" + word[-size:]] += count
    known = set(tokens)
    extra = sorted(
        (p for p, n in pieces.items() if p not in known and n >= max(2, min_frequency)), key=lambda p: (-pieces[p], p)
    )
    tokens += extra[: max(0, vocab_size - len(tokens))]
    return {token: i for i, token in enumerate(tokens)}
