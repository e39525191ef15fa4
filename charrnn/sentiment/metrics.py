"""What a classifier's answers on labelled texts come to: accuracy, the confusion matrix, each class's precision,
recall and F1, their macro average, and the matrix as a readable table."""
from __future__ import annotations

from dataclasses import dataclass

CORNER = "true \\ predicted"  # the table's top-left cell


@dataclass(frozen=True)
class ClassScore:
    """One class's figures: rows labelled with it (`support`), rows predicted as it, precision, recall and F1
    (0.0 where a ratio has nothing to divide by)."""

    support: int
    predicted: int
    precision: float
    recall: float
    f1: float


def confusion_matrix(labels: list[int], predictions: list[int], n_classes: int) -> list[list[int]]:
    """matrix[true][predicted]: how many rows of each true class got each predicted class."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    matrix = [[0] * n_classes for _ in range(n_classes)]
    for y, p in zip(labels, predictions):
        matrix[y][p] += 1
    return matrix


def accuracy_of(matrix: list[list[int]]) -> float:
    """The share of rows on the diagonal (0.0 for no rows)."""
    total = sum(map(sum, matrix))
    return sum(matrix[i][i] for i in range(len(matrix))) / total if total else 0.0


def class_scores(matrix: list[list[int]]) -> list[ClassScore]:
    """Each class's precision (right among those predicted as it), recall (right among those labelled with it) and
    F1 (their harmonic mean, 2 TP / (2 TP + FP + FN))."""
    scores = []
    for c, row in enumerate(matrix):
        tp, support, predicted = row[c], sum(row), sum(r[c] for r in matrix)
        scores.append(ClassScore(support, predicted, tp / predicted if predicted else 0.0,
                                 tp / support if support else 0.0,
                                 2 * tp / (support + predicted) if support + predicted else 0.0))
    return scores


def macro_f1(matrix: list[list[int]]) -> float:
    """The unweighted mean of the F1 of the classes that occur among the labels or the predictions (a class with
    neither says nothing and is left out, as scikit-learn does by default)."""
    present = [s.f1 for s in class_scores(matrix) if s.support or s.predicted]
    return sum(present) / len(present) if present else 0.0


def confusion_table(matrix: list[list[int]], classes: tuple[str, ...]) -> str:
    """The matrix with a row per true class and a column per predicted class, then each class's rows, precision,
    recall and F1."""
    names = [str(c) if len(str(c)) <= 20 else str(c)[:19] + "…" for c in classes]
    first = max(len(CORNER), *(len(n) for n in names))
    width = max(6, *(len(n) for n in names), *(len(str(v)) for row in matrix for v in row))
    lines = [f"{CORNER:<{first}}  " + " ".join(f"{n:>{width}}" for n in names)
             + f"  | {'rows':>6} {'precision':>9} {'recall':>6} {'f1':>6}"]
    for name, row, s in zip(names, matrix, class_scores(matrix)):
        lines.append(f"{name:<{first}}  " + " ".join(f"{v:>{width}}" for v in row)
                     + f"  | {s.support:>6} {s.precision:>9.4f} {s.recall:>6.4f} {s.f1:>6.4f}")
    return "\n".join(lines)
