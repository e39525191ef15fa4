"""charrnn: character-level recurrent language models you can train, sample and share."""
from .checkpoint import CheckpointError
from .data import CharWindows, Vocab, VocabError
from .evaluate import EvalResult, evaluate_stream
from .gutenberg import GutenbergError, chapter_slice, download, load_book, strip_gutenberg
from .model import CharRNN, ModelConfig
from .charlm import CharLM, load_char_lm
from .sample import generate, stream
from .corpus import Corpus, load_corpus
from .textfile import TextFileError, decode, read_text
from .train import TrainConfig, TrainResult, train

__version__ = "0.1.0"
__all__ = [
    "CharLM", "CharRNN", "CharWindows", "CheckpointError", "Corpus", "EvalResult", "GutenbergError", "ModelConfig",
    "TextFileError", "TrainConfig", "TrainResult", "Vocab", "VocabError", "chapter_slice", "decode", "download",
    "evaluate_stream", "generate", "load_book", "load_char_lm", "load_corpus", "read_text", "stream",
    "strip_gutenberg", "train",
]
