"""The negation-aware tokenizer: raw text and SST-2's pre-tokenized text give the same tokens."""
import time

import pytest

from charrnn.sentiment.text import TOKENIZERS, surface_forms, tokenize, tokenize_words, tokenizer


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


@pytest.mark.parametrize("text, shown", [
    ("Wasn't it GREAT?! I can't say<br />No :)", ["Was", "n't", "it", "GREAT", "?", "!", "I", "ca", "n't", "say", "No",
                                                  ":)"]),
    ("It WON'T work; SST does n't care.", ["It", "WO", "N'T", "work", "SST", "does", "n't", "care"]),
    ("Ain't nothing like it, I can not", ["Ai", "n't", "nothing", "like", "it", "I", "can", "not"]),
    ("Its best :-( ever", ["Its", "best", "ever", ":("]),  # the emoticon is appended, nose dropped: as it is
    ("I ca n't say, it wo n't", ["I", "ca", "n't", "say", "it", "wo", "n't"]),  # SST's spelling
    ("\u0130stanbul was GREAT", ["\u0130", "stanbul", "was", "GREAT"]),  # \u0130 lowercases to two characters
    ("Ca. 1900, this is it", ["Ca", "1900", "this", "is", "it"]),
])
def test_surface_forms_are_the_words_as_written(text, shown):
    tokens = tokenize_words(text)
    assert surface_forms(text, tokens) == shown



def test_surface_forms_of_the_chapter_tokenizer_and_tokens_not_in_the_text():
    text = "Not BAD at all<br/>but Said so"  # the chapter's tokenizer joins words across a tag: "allbut"
    assert surface_forms(text, tokenize(text), "chapter") == ["Not", "BAD", "at", "allbut", "Said", "so"]
    text = "CAN'T<br>Theatre. the END"  # "the" is not the start of "Theatre"
    assert surface_forms(text, tokenize(text), "chapter") == ["CAN", "ttheatre", "the", "END"]
    assert surface_forms("This is it", ["is", "it"]) == ["is", "it"]  # never inside a word: "is" of "This"
    assert surface_forms("good", ["bad", "good"]) == ["bad", "good"]  # not in the text: shown as it is


def test_surface_forms_take_time_linear_in_the_text():
    text = "ab<br>cd " * 60_000  # every token ("abcd") is lost: each search stops within a window
    t0 = time.perf_counter()
    assert surface_forms(text, tokenize(text), "chapter") == tokenize(text)
    assert time.perf_counter() - t0 < 8  # ~1.3 s here; without the window, over two minutes
