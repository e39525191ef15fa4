"""A folder of shareable checkpoints: list and describe them, pick one safely by name, accept uploads."""
from __future__ import annotations

import datetime as dt
import filecmp
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import checkpoint as ckpt
from .evaluate import LN2

SUFFIX = ".pt"
MAX_UPLOAD_BYTES = 1 << 30


@dataclass(frozen=True)
class CheckpointInfo:
    """What the app shows about one checkpoint file; `error` is set when the file cannot be read."""

    name: str
    path: Path
    kind: str
    size: int
    modified: dt.datetime
    corpus: str | None = None
    steps: int | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    error: str | None = None

    @property
    def score(self) -> str:
        """Validation loss (nats and bits per character) for language models, accuracy for classifiers."""
        if self.val_loss is not None:
            return f"val loss {self.val_loss:.3f} nats ({self.val_loss / LN2:.3f} bpc)"
        acc = self.test_accuracy if self.test_accuracy is not None else self.val_accuracy
        if acc is not None:
            which = "test" if self.test_accuracy is not None else "val"
            return f"{which} accuracy {acc:.1%}"
        return ""

    @property
    def label(self) -> str:
        """One line for a dropdown: name, corpus and score."""
        parts = [p for p in (self.corpus, self.score) if p]
        return f"{self.name} ({', '.join(parts)})" if parts else self.name


_cache: dict[tuple[str, int, int], CheckpointInfo] = {}


def describe(path: str | os.PathLike) -> CheckpointInfo:
    """Read a checkpoint's kind and metrics (weights_only load, cached by size and mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _cache:
        return _cache[key]
    modified = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc)
    try:
        obj = ckpt.load(path)
    except ckpt.CheckpointError as e:
        info = CheckpointInfo(path.name, path, "unreadable", st.st_size, modified, error=str(e))
    else:
        m = obj.get("metrics")
        m = m if isinstance(m, dict) else {}
        info = CheckpointInfo(
            path.name, path, str(obj["kind"]), st.st_size, modified,
            corpus=_opt(m.get("corpus"), str),
            steps=_opt(m.get("steps"), int),
            val_loss=_opt(m.get("val_loss"), float),
            val_accuracy=_opt(m.get("val_accuracy"), float),
            test_accuracy=_opt(m.get("test_accuracy"), float),
            error=check_fits(obj, path.name),
        )
    _cache[key] = info
    return info


def check_fits(obj: dict, name: str) -> str | None:
    """Why the model a loaded checkpoint describes cannot be built from its weights, or None if it can.

    Only shapes are checked, on the meta device: nothing is allocated. Kinds other than char-lm and sentiment
    pass (the app offers checkpoints by kind).
    """
    try:
        if obj["kind"] == "char-lm":
            ckpt.char_lm_parts(obj, name, meta=True)
        elif obj["kind"] == "sentiment":
            from .sentiment.predict import sentiment_parts

            sentiment_parts(obj, name, meta=True)
    except ckpt.CheckpointError as e:
        return str(e)
    except Exception as e:  # a listing must never fail on a hostile file
        return f"{name} does not match a {obj['kind']} model: {ckpt.short(e)}"
    return None


def _opt(value, cast):
    """A metric shown in the listing: a plain number or string converted by `cast`, else None."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None
    try:
        return cast(value)
    except (TypeError, ValueError, OverflowError):
        return None


def list_checkpoints(folder: str | os.PathLike, kind: str | None = None) -> list[CheckpointInfo]:
    """The `*.pt` files directly inside `folder`, newest first; with `kind`, only usable ones of that kind."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    infos = []
    for p in folder.glob(f"*{SUFFIX}"):
        if p.is_file() and not p.name.startswith("."):
            try:
                infos.append(describe(p))
            except OSError:  # removed or replaced while listing
                continue
    if kind is not None:
        infos = [i for i in infos if i.kind == kind and i.error is None]
    return sorted(infos, key=lambda i: (-i.modified.timestamp(), i.name))


def resolve(folder: str | os.PathLike, name: str) -> Path:
    """The path of checkpoint `name` inside `folder`; other folders, links leading out and other files are refused."""
    folder = Path(folder).resolve()
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise ckpt.CheckpointError(f"not a checkpoint name: {name!r}")
    if not name.endswith(SUFFIX):
        raise ckpt.CheckpointError(f"not a checkpoint name (must end in {SUFFIX}): {name!r}")
    path = (folder / name).resolve()
    if path.parent != folder:
        raise ckpt.CheckpointError(f"{name!r} is outside the checkpoints folder")
    if not path.is_file():
        raise ckpt.CheckpointError(f"no checkpoint named {name!r}")
    return path


def safe_stem(text: str, default: str = "model") -> str:
    """A file-name stem made of letters, digits, '-', '_' and '.', not starting with a dot."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    stem = re.sub(r"\.pt$", "", stem)[:80].strip("-.")
    return stem or default


def free_name(folder: str | os.PathLike, stem: str, suffix: str = SUFFIX) -> str:
    """`stem + suffix`, or `stem-2 + suffix`, `stem-3 + suffix`, ... whichever does not exist yet in `folder`."""
    folder = Path(folder)
    name, n = f"{stem}{suffix}", 1
    while (folder / name).exists():
        n += 1
        name = f"{stem}-{n}{suffix}"
    return name


def place(src: str | os.PathLike, folder: str | os.PathLike, stem: str, move: bool = False) -> Path:
    """Copy (or move) `src` into `folder` under a free name derived from `stem`; never overwrites.

    The bytes go to a hidden temporary file first and are then hard-linked to the final name, which
    fails rather than replaces if another writer took the name meanwhile.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming.", suffix=".tmp")
    os.close(fd)
    try:
        if move:
            os.replace(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        for _ in range(100):
            dest = folder / free_name(folder, stem)
            try:
                os.link(tmp, dest)
                return dest
            except FileExistsError:
                continue
        raise ckpt.CheckpointError(f"could not find a free name for {stem} in {folder}")
    finally:
        Path(tmp).unlink(missing_ok=True)


@dataclass(frozen=True)
class UploadResult:
    info: CheckpointInfo
    message: str


def accept_upload(src: str | os.PathLike, folder: str | os.PathLike, filename: str | None = None) -> UploadResult:
    """Validate an uploaded checkpoint (format, kind, weights_only load, model shapes) and copy it into `folder`.

    Raises CheckpointError with the reason when refused. An upload byte-identical to a file already in
    the folder is not copied again; a different file with a taken name gets a new name.
    """
    src = Path(src)
    filename = filename or src.name
    if not src.is_file():
        raise ckpt.CheckpointError(f"{filename}: upload not found")
    size = src.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        limit = MAX_UPLOAD_BYTES // 2**20
        raise ckpt.CheckpointError(f"{filename} is {size / 2**20:.0f} MiB; the limit is {limit} MiB")
    if not filename.endswith(SUFFIX):
        raise ckpt.CheckpointError(f"{filename}: checkpoints are {SUFFIX} files")
    obj = ckpt.load(src)
    kind = obj["kind"]
    if kind not in ckpt.KINDS:
        raise ckpt.CheckpointError(f"{filename} is of kind {kind!r}; accepted kinds: {', '.join(ckpt.KINDS)}")
    check_loads(src, kind)
    for existing in list_checkpoints(folder):
        if existing.size == size and filecmp.cmp(src, existing.path, shallow=False):
            return UploadResult(existing, f"{filename} is already here as {existing.name}")
    stem = safe_stem(Path(filename).stem)
    dest = place(src, folder, stem)
    info = describe(dest)
    renamed = ""
    if dest.name != f"{stem}{SUFFIX}":
        renamed = f" (saved as {dest.name}: the name was taken)"
    elif dest.name != filename:
        renamed = f" (saved as {dest.name})"
    return UploadResult(info, f"accepted {kind} checkpoint {dest.name}{renamed}")


def check_loads(path: str | os.PathLike, kind: str) -> None:
    """Build the model a checkpoint describes and load its weights; CheckpointError if they do not fit."""
    try:
        if kind == "char-lm":
            from .sample import load_char_lm

            load_char_lm(path)
        elif kind == "sentiment":
            from .sentiment import load_sentiment

            load_sentiment(path)
    except (ckpt.CheckpointError, ImportError):
        raise
    except Exception as e:  # an upload is refused with a reason, whatever the file holds
        raise ckpt.CheckpointError(f"{Path(path).name} does not match a {kind} model: {ckpt.short(e, 300)}") from None
