"""charrnn: character-level recurrent language models you can train, sample and share.

This file is the public facade (the only top-level module that imports a layer below it): the names users import
from `charrnn`, and the import of both kinds of model so that each registers itself with `charrnn.kinds`.
"""
from .checkpoint import CheckpointError
from .lm.data import CharWindows, Vocab, VocabError
from .lm.evaluate import EvalResult, evaluate_stream
from .lm.gutenberg import GutenbergError, chapter_slice, download, load_book, strip_gutenberg
from .lm.model import CharRNN, ModelConfig
from .lm.charlm import CharLM, load_char_lm
from .lm.sample import generate, stream
from .lm.corpus import Corpus, load_corpus
from .lm.textfile import TextFileError, decode, read_text
from .lm.train import TrainConfig, TrainResult, train
from . import sentiment  # noqa: F401  (registers the classifier kind)

__version__ = "0.1.0"
__all__ = [
    "CharLM", "CharRNN", "CharWindows", "CheckpointError", "Corpus", "EvalResult", "GutenbergError", "ModelConfig",
    "TextFileError", "TrainConfig", "TrainResult", "Vocab", "VocabError", "chapter_slice", "decode", "download",
    "evaluate_stream", "generate", "load_book", "load_char_lm", "load_corpus", "read_text", "stream",
    "strip_gutenberg", "train",
]
