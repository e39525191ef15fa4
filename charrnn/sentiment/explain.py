"""Why the classifier said what it said: per-word contributions by occlusion and the probability as the text is
read left to right, plus plain-Python shapes for a highlighted text and a running-probability plot."""
from __future__ import annotations

from dataclasses import dataclass, field

from .kind import CLASSES, SentimentModel
from .model import SentimentBlend
from .predict import known_ids, probabilities_ids
from .text import UNK_ID, surface_forms, tokenizer

EXPLAIN_LIMIT = 500  # at most this many tokens are explained (fewer when the model itself reads fewer)
TOKEN_BUDGET = 32768  # padded tokens per forward batch: bounds memory for long texts
NO_KNOWN_WORDS = "no known words: the classifier has nothing to go on"


@dataclass
class Explanation:
    """What the model read and how each token moved its answer towards one class, `classes[target]`: the second
    of two (as ever), else the predicted class unless another was asked for.

    `probability` is P(target class) for the tokens explained. `contributions[i]` is the occlusion effect of
    token i: P(all tokens) - P(all tokens but i), so positive pushes towards the target class. `running[k-1]`
    is P(first k tokens), so `running[-1] == probability`. `probabilities` are every class's for the tokens
    explained. `notice` is non-empty when the number deserves a caveat: no known word, or the text was cut.
    """

    tokens: list[str]
    known: list[bool]
    probability: float
    contributions: list[float]
    running: list[float]
    classes: tuple[str, ...] = CLASSES
    cut: int = 0  # tokens after the explained ones, which the explanation ignores
    notice: str = ""
    target: int = 1  # the index of the class explained
    probabilities: tuple[float, ...] = ()  # every class's probability for the tokens explained
    route: str = ""  # a blend's: which of its parts answered (texts up to its split, or longer ones)
    shown: list[str] = field(default_factory=list)  # each token as the text writes it (text.surface_forms)
    known_words: int = field(init=False)

    def __post_init__(self) -> None:
        self.known_words = sum(self.known)


def _classes(sm: SentimentModel) -> tuple[str, ...]:
    classes = getattr(sm, "classes", None)
    return tuple(classes) if classes and len(classes) >= 2 else CLASSES


def class_index(classes: tuple[str, ...], name: str) -> int:
    """The index of the class called `name` (exactly, else ignoring case); ValueError naming the classes."""
    for same in (lambda c: c == name, lambda c: c.casefold() == name.strip().casefold()):
        hits = [i for i, c in enumerate(classes) if same(c)]
        if hits:
            return hits[0]
    shown = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
    raise ValueError(f"no class {name!r}: the classifier's classes are {shown}")


def _target(classes: tuple[str, ...], full: list[float], target: str | None) -> int:
    """The class to explain: the one named, else the second of two, else the most probable."""
    if target is not None:
        return class_index(classes, target)
    return 1 if len(classes) == 2 else max(range(len(full)), key=full.__getitem__)


def explain(sm: SentimentModel, text: str, limit: int = EXPLAIN_LIMIT, target: str | None = None) -> Explanation:
    """Explain the model's answer for `text` by occlusion: each token's contribution is how much P(target class)
    drops when that token alone is removed from the sequence (a faithful, model-agnostic measure: the model is
    simply run again without the word). The running probability is P after the first k tokens. The target is the
    class named `target` (ValueError for a name the model does not have), else the second of two classes, else the
    predicted (most probable) class.

    The text goes through the checkpoint's own tokenizer and is cut to min(model.max_tokens, limit) tokens; all
    prefixes and all occlusions are scored in a few length-bucketed batches, so a few hundred tokens take a
    moment. Empty text, or text without a known word, gets `known_words == 0` and a notice: its probability is
    the model's answer for `<unk>` alone, which says nothing about the text.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    text = "" if text is None else str(text)
    all_tokens = tokenizer(sm.tokenizer)(text)
    n_read = min(sm.max_tokens, limit)
    tokens = all_tokens[:n_read]
    cut = len(all_tokens) - len(tokens)
    ids = sm.vocab.encode(tokens)
    known = known_ids(sm, ids)
    n = len(ids)
    # Prefixes 1..n, then the n occlusions (a one-token text without its token becomes <unk>, as empty text does).
    seqs = [ids[:k] for k in range(1, n + 1)] + [ids[:i] + ids[i + 1:] or [UNK_ID] for i in range(n)]
    if not seqs:
        seqs = [[UNK_ID]]
    rows = probabilities_ids(sm.model, seqs, max(1, TOKEN_BUDGET // max(1, n)), sm.device)
    classes = _classes(sm)
    full = rows[n - 1] if n else rows[0]
    t = _target(classes, full, target)
    running = [row[t] for row in rows[:n]]
    probability = full[t]
    contributions = [probability - row[t] for row in rows[n:]]
    notes = []
    if not any(known):
        notes.append(NO_KNOWN_WORDS)
    if cut and sm.max_tokens <= limit:
        notes.append(f"the model reads only the first {n} tokens; the other {cut} change nothing")
    elif cut:
        notes.append(f"explained the first {n} tokens; the other {cut} are left out, and the probability is "
                     "for the first ones only")
    return Explanation(tokens, known, probability, contributions, running, classes, cut, "; ".join(notes), t,
                       tuple(full), _route(sm.model, n), surface_forms(text, tokens, sm.tokenizer))


def _route(model, n: int) -> str:
    """For a blend (model.SentimentBlend), which parts answered a text of n tokens; "" for any other model."""
    if not isinstance(model, SentimentBlend):
        return ""
    short, parts = max(n, 1) <= model.split_at, len(model.routed(n))
    return (f"a blend: {'at most' if short else 'more than'} {model.split_at} tokens, so the mean of its {parts} "
            f"part(s) for {'short' if short else 'long'} texts answered (removing a word can change the route)")


def highlights(exp: Explanation, normalize: bool = True) -> list[tuple[str, float]]:
    """(word, score) pairs for a highlighted text (Gradio's HighlightedText), each token as the text writes it:
    score in [-1, 1], positive towards the class explained (the second of two). With `normalize` the strongest
    contribution is scaled to +-1 so the colours show the ranking; without it the score is the raw change in
    probability."""
    scale = max((abs(c) for c in exp.contributions), default=0.0) if normalize else 1.0
    scale = scale or 1.0
    return [(t, max(-1.0, min(1.0, c / scale))) for t, c in zip(exp.shown or exp.tokens, exp.contributions)]


def running_series(exp: Explanation) -> list[dict]:
    """The running probability as rows {position, token, probability} (position 1 = after the first token; the
    token as the text writes it), ready for a line plot or a DataFrame."""
    return [{"position": k, "token": t, "probability": p}
            for k, (t, p) in enumerate(zip(exp.shown or exp.tokens, exp.running), 1)]


def _legend(exp: Explanation) -> str:
    """What the sign of a contribution means."""
    name = exp.classes[exp.target]
    if len(exp.classes) == 2:
        return f"+ towards {name}, - towards {exp.classes[1 - exp.target]}"
    return f"+ towards {name}, - away from it"


def explanation_table(exp: Explanation) -> str:
    """A readable report: the probability line (and for more than two classes every class's probability), any
    notice, then token, contribution and running probability."""
    name = exp.classes[exp.target]
    lines = [f"P({name}) = {exp.probability:.4f}  ({len(exp.tokens)} tokens, {exp.known_words} known)"]
    if len(exp.classes) > 2 and exp.probabilities:
        best = max(range(len(exp.probabilities)), key=exp.probabilities.__getitem__)
        lines.append("classes: " + ", ".join(f"{c} {p:.4f}" for c, p in zip(exp.classes, exp.probabilities))
                     + f" (predicted: {exp.classes[best]})")
    if exp.route:
        lines.append(exp.route)
    if exp.notice:
        lines.append(f"note: {exp.notice}")
    if exp.tokens:
        width = max(5, *(len(t) + 1 for t in exp.tokens))
        width = min(width, 30)
        lines.append(f"{'token':<{width}}  {'contribution':>12}  {'running':>7}")
        for t, known, c, r in zip(exp.tokens, exp.known, exp.contributions, exp.running):
            shown = t if known else t + "?"
            lines.append(f"{shown:<{width}}  {c:>+12.4f}  {r:>7.4f}")
        lines.append(f"(contribution: change in P({name}) when the token is removed, {_legend(exp)}; "
                     f"? marks a word the model does not know)")
    return "\n".join(lines)
