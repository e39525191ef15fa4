"""The shelf: a folder of shareable checkpoints. List and describe them, pick one safely by name, accept uploads.

(Not to be confused with `gutenberg.CATALOGUE`, the books offered for training.)
"""
from __future__ import annotations

import datetime as dt
import filecmp
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import checkpoint as ckpt
from . import kinds, modelfolder

SUFFIX = ".pt"
MAX_UPLOAD_BYTES = 1 << 30


@dataclass(frozen=True)
class CheckpointInfo:
    """What the app shows about one checkpoint file; `error` is set when the file cannot be read or used.

    `metrics` holds the checkpoint's metrics that are plain numbers or strings (files are untrusted).
    """

    name: str
    path: Path
    kind: str
    size: int
    modified: dt.datetime
    metrics: Mapping[str, str | int | float] = field(default_factory=dict)
    error: str | None = None
    classes: tuple[str, ...] = ()  # a classifier's class names as recorded (label 0, 1, ...); () when none

    @property
    def corpus(self) -> str | None:
        return kinds.metric(self.metrics, "corpus", str)

    @property
    def steps(self) -> int | None:
        return kinds.metric(self.metrics, "steps", int)

    @property
    def score(self) -> str:
        """The kind's score line: validation loss for language models, accuracy for classifiers."""
        return kinds.score(self.kind, self.metrics)

    @property
    def label(self) -> str:
        """One line for a dropdown: name, corpus and score."""
        parts = [p for p in (self.corpus, self.score) if p]
        return f"{self.name} ({', '.join(parts)})" if parts else self.name


_cache: dict[tuple[str, int, int], CheckpointInfo] = {}


def describe(path: str | os.PathLike) -> CheckpointInfo:
    """Read a checkpoint's (a .pt file's or a model folder's) kind and metrics, cached by size and mtime."""
    path = Path(path)
    size, mtime_ns = modelfolder.stamp(path)
    key = (str(path.resolve()), size, mtime_ns)
    if key in _cache:
        return _cache[key]
    modified = dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.timezone.utc)
    try:
        obj = ckpt.load(path)
    except ckpt.CheckpointError as e:
        info = CheckpointInfo(path.name, path, "unreadable", size, modified, error=str(e))
    else:
        info = _loaded_info(path, obj, size, modified)
    _cache[key] = info
    return info


def _loaded_info(path: Path, obj: dict, size: int, modified: dt.datetime) -> CheckpointInfo:
    """What a listing shows of the checkpoint `obj` read from `path` (`size` bytes, modified at `modified`)."""
    m = obj.get("metrics")
    m = m if isinstance(m, dict) else {}
    plain = {k: v for k, v in m.items() if isinstance(k, str) and _plain(v)}
    return CheckpointInfo(path.name, path, str(obj["kind"]), size, modified, plain,
                          error=check_fits(obj, path.name), classes=_names(obj.get("classes")))


def _plain(value) -> bool:
    """A number or string, which a listing can show; nested or other values from untrusted files are left out."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _names(value) -> tuple[str, ...]:
    """Recorded class names when they are a short list of short strings, else ()."""
    ok = isinstance(value, (list, tuple)) and len(value) <= 100 and all(isinstance(v, str) and len(v) <= 200
                                                                     for v in value)
    return tuple(value) if ok else ()


def check_fits(obj: dict, name: str) -> str | None:
    """Why the model a loaded checkpoint describes cannot be built from its weights, or None if it can.

    Only shapes are checked, on the meta device: nothing is allocated. Kinds charrnn does not know pass (the
    app offers checkpoints by kind).
    """
    kind = kinds.find(obj["kind"])
    if kind is None:
        return None
    try:
        kind.check(obj, name)
    except ckpt.CheckpointError as e:
        return str(e)
    except Exception as e:  # a listing must never fail on a hostile file
        return f"{name} does not match a {kind.name} model: {ckpt.short(e)}"
    return None


def list_checkpoints(folder: str | os.PathLike, kind: str | None = None) -> list[CheckpointInfo]:
    """The `*.pt` files and model folders (config.json + model.safetensors, from `charrnn export`) directly
    inside `folder`, newest first; with `kind`, only usable ones of that kind."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    infos = []
    for p in folder.iterdir():
        if not p.name.startswith(".") and (p.name.endswith(SUFFIX) and p.is_file() or modelfolder.is_model_folder(p)):
            try:
                infos.append(describe(p))
            except OSError:  # removed or replaced while listing
                continue
    if kind is not None:
        infos = [i for i in infos if i.kind == kind and i.error is None]
    return sorted(infos, key=lambda i: (-i.modified.timestamp(), i.name))


def default_checkpoint(folder: str | os.PathLike, kind: str, hint: str = "train or upload one first") -> Path:
    """The checkpoint of `kind` offered first in `folder`: the kind's default file (`kinds.Kind.default_file`) when it
    is there and usable, else the newest usable one; CheckpointError (ending with `hint`) when there is none."""
    preferred = Path(folder) / kinds.get(kind).default_file
    if preferred.is_file():
        info = describe(preferred)
        if info.kind == kind and info.error is None:
            return preferred
    available = list_checkpoints(folder, kind)
    if not available:
        raise ckpt.CheckpointError(f"no {kind} checkpoint in {Path(folder).name}/: {hint}")
    return available[0].path


def resolve(folder: str | os.PathLike, name: str) -> Path:
    """The path of checkpoint `name` (a .pt file or a model folder) inside `folder`; other folders, links leading
    out and other files are refused."""
    folder = Path(folder).resolve()
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise ckpt.CheckpointError(f"not a checkpoint name: {name!r}")
    path = (folder / name).resolve()
    if path.parent != folder:
        raise ckpt.CheckpointError(f"{name!r} is outside the checkpoints folder")
    if name.endswith(SUFFIX) and path.is_file() or modelfolder.is_model_folder(path):
        return path
    if not name.endswith(SUFFIX) and not path.is_dir():
        raise ckpt.CheckpointError(f"not a checkpoint name (a {SUFFIX} file or a model folder): {name!r}")
    raise ckpt.CheckpointError(f"no checkpoint named {name!r}")


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
    """Copy (or move) `src` into `folder` under a free name derived from `stem`; never overwrites, never loses `src`.

    The final name is taken atomically by a hard link, which fails rather than replaces if another writer took the
    name meanwhile. On filesystems without hard links (vfat, exFAT, some SMB/FUSE mounts) the name is created
    exclusively and then replaced by a complete copy. With move=True, `src` is removed only once it is published.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not move:
        return _copy_in(src, folder, stem)
    dest = _link_in(src, folder, stem) or _copy_in(src, folder, stem)
    os.unlink(src)
    return dest


def _link_in(path: str | os.PathLike, folder: Path, stem: str) -> Path | None:
    """Hard-link `path` to a free name in `folder`; None when the filesystem cannot hard-link it there."""
    for _ in range(100):
        dest = folder / free_name(folder, stem)
        try:
            os.link(path, dest)
            return dest
        except FileExistsError:
            continue
        except OSError:  # no hard links on this filesystem, or across filesystems: the caller copies instead
            return None
    raise ckpt.CheckpointError(f"could not find a free name for {stem} in {folder}")


def _claim(folder: Path, stem: str) -> Path:
    """Create an empty file under a free name in `folder` (O_EXCL: never one that exists)."""
    for _ in range(100):
        dest = folder / free_name(folder, stem)
        try:
            os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return dest
        except FileExistsError:
            continue
    raise ckpt.CheckpointError(f"could not find a free name for {stem} in {folder}")


def _copy_in(src: str | os.PathLike, folder: Path, stem: str) -> Path:
    """Copy `src` to a hidden temporary file in `folder`, then publish that under a free name; `src` is untouched.

    A half-copied file is never seen under a checkpoint name.
    """
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        dest = _link_in(tmp, folder, stem)
        if dest is None:
            dest = _claim(folder, stem)
            try:
                os.replace(tmp, dest)  # replaces only the empty file just created for it
            except BaseException:
                dest.unlink(missing_ok=True)
                raise
        return dest
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
    if kinds.find(kind) is None:
        raise ckpt.CheckpointError(f"{filename} is of kind {kind!r}; accepted kinds: {', '.join(kinds.names())}")
    check_loads(src, kind, obj)
    for existing in list_checkpoints(folder):
        if existing.size == size and filecmp.cmp(src, existing.path, shallow=False):
            return UploadResult(existing, f"{filename} is already here as {existing.name}")
    stem = safe_stem(Path(filename).stem)
    dest = place(src, folder, stem)
    size, mtime_ns = modelfolder.stamp(dest)
    modified = dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.timezone.utc)
    info = _cache[(str(dest.resolve()), size, mtime_ns)] = _loaded_info(dest, obj, size, modified)  # read once
    renamed = ""
    if dest.name != f"{stem}{SUFFIX}":
        renamed = f" (saved as {dest.name}: the name was taken)"
    elif dest.name != filename:
        renamed = f" (saved as {dest.name})"
    return UploadResult(info, f"accepted {kind} checkpoint {dest.name}{renamed}")


def check_loads(path: str | os.PathLike, kind: str, obj: dict | None = None) -> None:
    """Build the model a checkpoint describes and load its weights; CheckpointError if they do not fit. `obj`: the
    checkpoint already read from `path`, built from without reading the file again where the kind can."""
    build = kinds.get(kind).build
    try:
        if obj is not None and build is not None:
            build(obj, Path(path).name)
        else:
            kinds.load(path, kind, device="cpu")  # only checked: no GPU memory for an upload
    except (ckpt.CheckpointError, ImportError):
        raise
    except Exception as e:  # an upload is refused with a reason, whatever the file holds
        raise ckpt.CheckpointError(f"{Path(path).name} does not match a {kind} model: {ckpt.short(e, 300)}") from None
