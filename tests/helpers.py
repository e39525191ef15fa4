"""Small builders shared by tests."""
from charrnn import Corpus, TrainConfig, train

REPEAT = "the quick brown fox jumps over the lazy dog. " * 60


def tiny_config(**kw) -> TrainConfig:
    base = dict(steps=40, batch_size=16, seq_len=20, lr=0.01, warmup=0, eval_every=20, save_every=20, seed=3,
                device="cpu")
    base.update(kw)
    return TrainConfig(**base)


TINY_MODEL = dict(embed=16, hidden=48, layers=1)


def train_tiny(out, text=REPEAT, model=None, **kw):
    return train(Corpus(text, "repeat.txt", {"clean": "none"}), model or TINY_MODEL, tiny_config(**kw), out=out,
                 progress=False)
