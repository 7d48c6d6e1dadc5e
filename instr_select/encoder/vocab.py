"""A WordPiece tokenizer trained with ``tokenizers`` on instruction text."""

from __future__ import annotations

from collections.abc import Sequence

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PRE_TOKENIZERS = ("jinja", "bert")
# Jinja/promptsource markup kept whole: ``{{``, ``}}``, ``{%``, ``%}``, ``|||``, and identifiers with
# underscores (``answer_choices``, ``question_stem``): field names carry the dataset's identity.
JINJA_PIECES = r"\{\{|\}\}|\{%|%\}|\|\|\||\w+|[^\w\s]"


def train_wordpiece(texts: Sequence[str], vocab_size: int = 8000, min_frequency: int = 1, pre_tokenizer: str = "bert"):
    """Train a lowercasing WordPiece tokenizer (BERT normalizer) on ``texts``.

    ``pre_tokenizer``: "jinja" keeps template markup and underscore identifiers whole; "bert" is BERT's
    (splits every punctuation character, so ``{{answer_choices}}`` becomes 7 pieces). Training is
    deterministic for a given list of texts. The tokenizer carries BERT's special tokens (used by the
    Transformer option); the static encoder tokenizes without them.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    if pre_tokenizer == "jinja":
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(JINJA_PIECES), behavior="isolated")]
        )
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return tokenizer
