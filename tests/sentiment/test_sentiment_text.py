"""The negation-aware tokenizer: raw text and SST-2's pre-tokenized text give the same tokens."""
import pytest

from charrnn.sentiment.text import TOKENIZERS, tokenize, tokenize_words, tokenizer


@pytest.mark.parametrize("raw, tokenized", [
    ("The movie wasn't good!", "the movie was n't good !"),
    ("It doesn't work, and it's bad.", "it does n't work , and it 's bad ."),
    ("I can't stand it; they won't go.", "i ca n't stand it ; they wo n't go ."),
    ("Don\u2019t miss it?", "do n't miss it ?"),
])
def test_raw_and_sst_text_give_the_same_tokens(raw, tokenized):
    assert tokenize_words(raw) == tokenize_words(tokenized)


def test_negations_become_not_and_html_goes():
    assert tokenize_words("I wasn't impressed<br />at all :-)") == ["i", "was", "not", "impressed", "at", "all", ":)"]
    assert tokenize_words("can't won't ain't") == ["can", "not", "will", "not", "is", "not"]
    assert tokenize_words("") == [] and tokenize_words("...") == []
    # the chapter's tokenizer is unchanged: old checkpoints read text as they were trained
    assert tokenize("I wasn't impressed") == ["i", "wasn", "t", "impressed"]


def test_unknown_tokenizer_names_the_known_ones():
    assert set(TOKENIZERS) == {"chapter", "words"}
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'.*'chapter', 'words'"):
        tokenizer("bpe")
