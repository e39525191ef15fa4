"""Text classification into 2 to 100 classes (IMDb sentiment and star ratings, SST-2, sarcasm, your files): data,
tokenizer, (Bi)LSTM classifier, training, prediction and CLI."""
from .data import IMDB_SHA256, IMDB_URL, Imdb, ImdbError, Review, download_imdb, load_imdb, split_train_val
from .datasets import (DatasetError, LabelledData, MAX_CLASSES, STAR_CLASSES, from_imdb, from_imdb_stars,
                       load_labelled, make_split, repeat_split)
from .model import SentimentConfig, SentimentLSTM
from .kind import CLASSES, MAX_TOKENS, SentimentModel, default_sentiment_checkpoint, load_sentiment
from .predict import predict, predict_proba
from .vectors import (GloveResult, WordVectors, detect_format, learn_vectors, load_glove, load_vectors,
                      save_word2vec_text)
from .explain import Explanation, explain, explanation_table, highlights, running_series
from .text import PAD_ID, UNK_ID, WordVocab, tokenize
from .train import PRESETS, SentimentTrainConfig, preset, train_sentiment

__all__ = [
    "IMDB_SHA256", "IMDB_URL", "Imdb", "ImdbError", "Review", "download_imdb", "load_imdb", "split_train_val",
    "GloveResult", "SentimentConfig", "SentimentLSTM", "load_glove", "MAX_TOKENS", "SentimentModel",
    "load_sentiment", "predict", "PAD_ID", "UNK_ID", "WordVocab", "tokenize", "PRESETS", "SentimentTrainConfig",
    "preset", "train_sentiment", "Explanation", "explain", "explanation_table", "highlights", "running_series",
    "WordVectors", "detect_format", "learn_vectors", "load_vectors", "save_word2vec_text",
    "preset", "train_sentiment", "DatasetError", "LabelledData", "from_imdb", "load_labelled", "make_split",
    "repeat_split", "CLASSES", "default_sentiment_checkpoint", "MAX_CLASSES", "STAR_CLASSES", "from_imdb_stars",
    "predict_proba",
]
