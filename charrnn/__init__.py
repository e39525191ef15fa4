"""charrnn: character-level recurrent language models you can train, sample and share."""
from .checkpoint import CheckpointError
from .data import CharWindows, Vocab, VocabError
from .evaluate import EvalResult, evaluate_stream
from .gutenberg import GutenbergError, chapter_slice, decode, download, load_book, read_text, strip_gutenberg
from .model import CharRNN, ModelConfig
from .charlm import CharLM, load_char_lm
from .sample import generate, stream
from .corpus import Corpus, load_corpus
from .train import TrainConfig, TrainResult, train

__version__ = "0.1.0"
__all__ = [
    "CharLM", "CharRNN", "CharWindows", "CheckpointError", "Corpus", "EvalResult", "GutenbergError", "ModelConfig",
    "TrainConfig", "TrainResult", "Vocab", "VocabError", "chapter_slice", "decode", "download", "evaluate_stream",
    "generate", "load_corpus",
    "load_book", "load_char_lm", "read_text", "stream", "strip_gutenberg", "train",
]
