"""Files the project reads and writes: atomic writes (readers see the old file or the whole new one, never half of
it) whose failures name the file and the cause, regular files only on the way in, and a lock per output."""
from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

try:
    import fcntl
except ImportError:  # Windows: output locks are not taken there
    fcntl = None


class WriteError(OSError):
    """A file could not be written (disk full, no permission, ...): one line naming the file and the cause."""

    def __str__(self) -> str:
        return str(self.strerror)


def describe_os_error(e: OSError) -> str:
    """One line for an OSError: its own message, or its cause and the file it names."""
    if isinstance(e, WriteError) or not e.strerror:
        return str(e)
    return f"{e.strerror}: {e.filename}" if e.filename else e.strerror


class NotRegularFileError(ValueError):
    """A path names a FIFO, a device, a socket or a folder where a regular file is needed."""


class OutputLockedError(RuntimeError):
    """Another process is writing the same output."""


def os_cause(exc: BaseException) -> OSError | None:
    """The first OSError with an errno in `exc`'s chain (torch.save, for one, wraps ENOSPC in a RuntimeError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def write_error(path: str | os.PathLike, exc: BaseException) -> WriteError | None:
    """A WriteError for a failed write of `path` when an OSError caused it (None for other failures)."""
    cause = os_cause(exc)
    if cause is None:
        return None
    reason = cause.strerror or os.strerror(cause.errno)
    return WriteError(cause.errno, f"could not write {path}: {reason}")


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """`path` if it names a regular file (after links); NotRegularFileError saying what it is otherwise, and
    FileNotFoundError when nothing is there. Reading a FIFO or a device would block or never end."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{what} not found: {path}") from None
    except OSError as e:
        raise NotRegularFileError(f"cannot read {what} {path}: {e.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise NotRegularFileError(f"{what} {path} is {kind}, not a regular file")
    return path


def read_bytes(path: str | os.PathLike, limit: int | None = None, what: str = "file") -> bytes:
    """The bytes of regular file `path`, at most `limit` of them when a limit is given."""
    with open(regular_file(path, what), "rb") as f:
        return f.read() if limit is None else f.read(limit)


@contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on `<path>.lock` while a run writes `path`; a second run is refused at once.

    The lock is the kernel's (flock): it goes with the process, so a killed run leaves no stale lock behind (at
    most the empty file, which the next run takes over). The file is removed when the run ends; a run that locked a
    file another run had just removed tries again on the new one.
    """
    path = Path(path)
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLockedError(f"another run is writing {path} (it holds {lock.name}); wait for it to end "
                                    f"or choose another output") from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break  # the file on disk is the one locked
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a temporary file beside `path`; when the block succeeds it is synced and moved onto `path`
    with os.replace, when it raises the temporary file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise write_error(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _sync_folder(path.parent)
    except Exception as e:
        failed = write_error(path, e)
        if failed is None:
            raise
        raise failed from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` survive a power cut (where the platform can open a folder to sync it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files that `atomic_write(path)` left behind when its process was killed mid-write."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    if not path.parent.is_dir():
        return []
    return [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]


CACHE_ENV = "CHARRNN_CORPORA"


def default_cache_dir() -> Path:
    """Where downloads (Gutenberg books, the IMDb archive) are cached: $CHARRNN_CORPORA, else corpora/."""
    return Path(os.environ.get(CACHE_ENV, "corpora"))
