"""A character-model run's state and files: its settings (new, or the saved run's), the model, optimizer and
counters (`RunState`, to and from a checkpoint), the resume checks, the JSON-lines log and the files on disk.

lm/train.py's loop drives these; nothing here steps the model."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import checkpoint as ckpt
from .. import distributed
from ..device import pick_device
from ..files import stale_temporaries
from ..kinds import CHAR_LM
from ..training import checkpoint_dict, cpu_state_dict, grad_scaler, resolve_precision
from .charlm import char_lm_parts
from .config import DEFAULT_STEPS, TrainConfig, TrainResult
from .corpus import Corpus
from .data import CharWindows, StreamBatches, Vocab
from .evaluate import LN2, EvalResult
from .finetune import Start, check_resume, load_start
from .model import CharRNN, ModelConfig

KIND = CHAR_LM


def best_path(out: Path) -> Path:
    """The run's best-validation checkpoint beside `out`: <stem>.best.pt."""
    return out.with_name(out.stem + ".best.pt")


def log_path(out: Path) -> Path:
    """The run's JSON-lines log beside `out`: <stem>.log.jsonl."""
    return out.with_name(out.stem + ".log.jsonl")


def slim(checkpoint: dict) -> dict:
    """The checkpoint without optimizer and trainer state: what sampling and sharing need."""
    return {k: v for k, v in checkpoint.items() if k not in ("optimizer", "trainer")}


# ---------------------------------------------------------------- settings and resume checks


@dataclass(frozen=True)
class Settings:
    """What a run is made with: its training settings, model settings and vocabulary (and, fine-tuning a new run,
    the starting weights)."""

    config: TrainConfig
    model: ModelConfig
    vocab: Vocab
    start: Start | None = None


def model_given(model_config: dict | None) -> dict:
    """The model settings the caller gave: None means the default (or, in a time-budget run, sized)."""
    return {k: v for k, v in (model_config or {}).items() if v is not None}


class DivergedError(ValueError):
    """The training loss became NaN or infinite: the run stops and keeps its last good files."""


def resumable(out: Path, corpus: Corpus) -> dict:
    """The checkpoint at `out`, checked to hold a resumable run trained on this very text."""
    if not out.is_file():
        raise ckpt.CheckpointError(f"cannot resume: {out} does not exist")
    state = ckpt.load(out, kind=KIND)
    if "trainer" not in state or "optimizer" not in state:
        raise ckpt.CheckpointError(f"cannot resume from {out.name}: it holds no optimizer/trainer state "
                                   f"(a .best.pt file?); resume from the run's latest checkpoint")
    if not isinstance(state.get("metrics"), dict) or not isinstance(state["trainer"], dict):
        raise ckpt.CheckpointError(f"cannot resume from {out.name}: its metrics or trainer state is damaged")
    if state["metrics"].get("corpus_sha256") != corpus.sha256:
        raise ValueError(f"cannot resume {out}: it was trained on a different text")
    return state


def settings(corpus: Corpus, model_config: dict | None, config: TrainConfig | None, saved: dict | None,
             name: str) -> Settings:
    """The run's settings: from the arguments for a new run (fine-tuning: the model from config.init_from); on
    resume the saved ones, where a given config changes only the device, log_every, and steps when it sets them
    (and may name the run's own starting checkpoint, nothing else: finetune.check_resume)."""
    if saved is None:
        config = config or TrainConfig()
        if config.minutes is None:
            config = replace(config, steps=config.steps or DEFAULT_STEPS)
        if config.init_from is not None:
            start = load_start(config.init_from, corpus, model_config)
            return Settings(config, start.model, start.vocab, start)
        vocab = Vocab.from_text("".join(set().union(*(set(t) for t in corpus.texts))))  # raises for empty text
        return Settings(config, ModelConfig(vocab_size=len(vocab), **model_given(model_config)), vocab)
    vocab, _ = char_lm_parts(saved, name, meta=True)
    if config is not None and config.init_from is not None:
        check_resume(config.init_from, saved, name)
    asked = {} if config is None else {"device": config.device, "log_every": config.log_every}
    if config is not None and config.steps is not None:
        asked.update(steps=config.steps, minutes=None)
    try:
        model_cfg = ModelConfig(**saved["config"]["model"])
        kept = {k: v for k, v in saved["config"]["train"].items() if k in TrainConfig.__dataclass_fields__}
        config = TrainConfig(**{**kept, **asked})
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ckpt.CheckpointError(f"cannot resume from {name}: its training settings are damaged: "
                                   f"{ckpt.short(e)}") from None
    if config.steps is None and config.minutes is None:
        raise ckpt.CheckpointError(f"cannot resume from {name}: it records no training steps; give the steps")
    return Settings(config, model_cfg, vocab)


def join_torchrun(device: str) -> distributed.Context:
    """This process's place in a torchrun job, joining torchrun's process group if the caller has not."""
    if distributed.launched_by_torchrun() and not distributed.context().enabled:
        distributed.init(device)
    return distributed.context()


def run_device(name: str, dctx: distributed.Context) -> torch.device:
    """The device to train on: `name` resolved, under torchrun each rank's own GPU."""
    device = pick_device(name)
    if dctx.enabled and device.type == "cuda":
        device = torch.device("cuda", dctx.local_rank)
    return device


# ---------------------------------------------------------------- the run's state


@dataclass
class RunState:
    """A run in progress: its settings, model, optimizer, loss scaler, batch generator and counters. It becomes a
    checkpoint (`to_checkpoint`) and comes back from one (`load_checkpoint`)."""

    config: TrainConfig
    model_cfg: ModelConfig
    vocab: Vocab
    preprocessing: dict
    net: CharRNN  # the model itself, never its DistributedDataParallel wrapper
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    gen: torch.Generator  # draws the window starts: the same stream on every rank
    device: torch.device
    precision: str
    step: int = 0
    chars_seen: int = 0
    seconds: float = 0.0
    best_val: float = math.inf
    metrics: dict = field(default_factory=dict)
    rank_rng_states: list = field(default_factory=list)  # every rank's dropout RNG, gathered before each save
    streams: StreamBatches | None = None  # with batching 'streams': the streams' positions...
    hidden: tuple | torch.Tensor | None = None  # ...and the recurrent state they carry (detached)

    @classmethod
    def create(cls, given: Settings, preprocessing: dict, device: torch.device,
               dctx: distributed.Context) -> RunState:
        """A new run seeded from config.seed: the same weights and batches on every rank, its own dropout masks."""
        config = given.config
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        net = CharRNN(given.model).to(device)
        if dctx.rank:
            torch.manual_seed(config.seed + dctx.rank)  # rank 0 draws as a single process does
        opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        precision = resolve_precision(device, config.precision, config.amp)
        return cls(config, given.model, given.vocab, {**preprocessing, "val_fraction": config.val_fraction}, net,
                   opt, grad_scaler(device, precision), gen, device, precision)

    def load_checkpoint(self, state: dict, dctx: distributed.Context) -> None:
        """Put a saved run's weights, optimizer, counters, metrics, RNG streams and scaler state back, each checked
        (ValueError naming what does not fit)."""
        self.net.load_state_dict(state["state_dict"])
        self.opt.load_state_dict(state["optimizer"])
        check_optimizer(self.opt)
        t = state["trainer"]
        self.chars_seen = _count(t, "chars_seen")
        saved_steps = (state["config"].get("train") or {}).get("steps")
        self.step = _count(t, "step", min(self.chars_seen, saved_steps if isinstance(saved_steps, int) else
                                          self.chars_seen))  # a step reads at least one character
        self.seconds, self.best_val = float(t["seconds"]), float(t["best_val"])
        if not (math.isfinite(self.seconds) and self.seconds >= 0) or math.isnan(self.best_val):
            raise ValueError(f"seconds {self.seconds} or best_val {self.best_val} is not a number it can be")
        self.gen.set_state(t["gen_state"])
        _restore_rng(t, dctx, self.device, self.config.seed + dctx.rank + self.step)
        if t.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(t["scaler"])
        self.metrics = dict(state["metrics"])
        if self.streams is not None and t.get("streams"):
            self.streams.load_state_dict(t["streams"])
            held = [h.to(self.device) for h in t["streams"]["hidden"]]
            self.hidden = (tuple(held) if self.model_cfg.cell == "lstm" else held[0]) if held else None

    def to_checkpoint(self) -> dict:
        """The run now, as a resumable checkpoint (`slim()` of it: the shareable one)."""
        self.metrics.update(steps=self.step, chars_seen=self.chars_seen, train_seconds=self.seconds)
        trainer = {
            "step": self.step,
            "chars_seen": self.chars_seen,
            "seconds": self.seconds,
            "best_val": self.best_val,
            "gen_state": self.gen.get_state(),
            "rng_state": torch.get_rng_state(),
            "cuda_rng_state": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "rank_rng_states": self.rank_rng_states,
        }
        if self.streams is not None:
            held = [] if self.hidden is None else [self.hidden] if torch.is_tensor(self.hidden) else self.hidden
            trainer["streams"] = {**self.streams.state_dict(),  # fp32: resumable on another device or precision
                                  "hidden": [h.detach().float().cpu() for h in held]}
        return checkpoint_dict(KIND, self.model_cfg.to_dict(), self.config, list(self.vocab.chars),
                               cpu_state_dict(self.net), self.metrics, preprocessing=self.preprocessing,
                               optimizer=self.opt.state_dict(), trainer=trainer)

    def note_validation(self, result: EvalResult) -> None:
        self.metrics.update(val_loss=result.loss_nats, val_bpc=result.loss_nats / LN2, val_chars=result.chars)

    def result(self, status: str, out: Path, history: list[dict], dctx: distributed.Context) -> TrainResult:
        m = self.metrics
        return TrainResult(status, self.step, out, best_path(out), m.get("val_loss"), m.get("val_bpc"),
                           self.chars_seen, self.seconds, history, dict(m), dctx.rank, dctx.world_size)


def _restore_rng(trainer: dict, dctx: distributed.Context, device: torch.device, fallback_seed: int) -> None:
    """Put back this process's global RNG (dropout masks): under torchrun each rank's own saved stream when the run
    had as many ranks; rank 0's (the single process's) otherwise, with fresh seeds for any extra ranks."""
    ranks = trainer.get("rank_rng_states") or []
    if len(ranks) == dctx.world_size and dctx.enabled:
        torch.set_rng_state(ranks[dctx.rank]["cpu"])
        if ranks[dctx.rank]["cuda"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(ranks[dctx.rank]["cuda"], device)
    elif dctx.rank == 0:
        torch.set_rng_state(trainer["rng_state"])
        if trainer.get("cuda_rng_state") and device.type == "cuda":
            torch.cuda.set_rng_state_all(trainer["cuda_rng_state"])
    else:
        torch.manual_seed(fallback_seed)


def check_optimizer(opt: torch.optim.Optimizer) -> None:
    """ValueError unless every optimizer state tensor is finite and shaped like its parameter (a damaged or
    tampered file would otherwise fail at the first step, or train NaN weights)."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if not isinstance(value, torch.Tensor):
                    raise ValueError(f"optimizer state {key!r} is a {type(value).__name__}, not a tensor")
                if value.dim() and value.shape != p.shape:
                    raise ValueError(f"optimizer state {key!r} has shape {tuple(value.shape)}, its weight "
                                     f"{tuple(p.shape)}")
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise ValueError(f"optimizer state {key!r} holds NaN or infinite values")


def _count(trainer: dict, key: str, most: int | None = None) -> int:
    """A saved counter (step, chars_seen): a whole number from 0 to `most` (the run's steps, when it has them)."""
    value = trainer[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (most is not None and value > most):
        bound = f" to {most:,}" if most is not None else " or more"
        raise ValueError(f"{key} is {ckpt.short(value, 40)}; a saved run's {key} is a whole number from 0{bound}")
    return value


def start_run(corpus: Corpus, given: Settings, device: torch.device, dctx: distributed.Context,
              saved: dict | None, name: str, batches: CharWindows | StreamBatches) -> RunState:
    """A new run, or the saved one (from the file `name`) put back; CheckpointError when the saved state does
    not fit."""
    run = RunState.create(given, corpus.preprocessing, device, dctx)
    run.streams = batches if isinstance(batches, StreamBatches) else None
    if saved is not None:
        try:
            run.load_checkpoint(saved, dctx)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
            raise ckpt.CheckpointError(f"cannot resume from {name}: its optimizer or trainer state is damaged: "
                                       f"{ckpt.short(e)}") from None
    if saved is None and given.start is not None:
        run.net.load_state_dict(given.start.state_dict)
        run.metrics["init_from"] = dict(given.start.info)
    run.metrics.update(corpus=corpus.name, corpus_sha256=corpus.sha256, corpus_chars=corpus.chars,
                       device=str(device), world_size=dctx.world_size, precision=run.precision)
    return run


def note_start(run: RunState, log: RunLog, progress: bool) -> None:
    """A new fine-tuning run: say where it started and how many characters its vocabulary gained (log, stderr)."""
    info = run.metrics.get("init_from")
    if run.step or not isinstance(info, dict):
        return
    log.write({"step": 0, "init_from": info})
    if progress:
        added = f": {info['added']!r}" if info["chars_added"] else ""
        tqdm.write(f"fine-tuning {info['file']} (sha256 {info['sha256'][:12]}): {info['chars_added']} characters "
                   f"added to its {info['base_vocab']}{added}")


# ---------------------------------------------------------------- the log and the files


@dataclass
class RunLog:
    """The run's JSON-lines log, written by rank 0 only, with this call's records and the caller's hook."""

    path: Path
    enabled: bool
    on_log: Callable[[dict], None] | None = None
    history: list[dict] = field(default_factory=list)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.history.append(record)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.on_log:
            self.on_log(record)


def prepare_files(out: Path, resume: bool, step: int, main: bool) -> None:
    """On rank 0: delete temporary files a killed run left; on resume drop log records past the checkpoint, on a
    new run the old log and best checkpoint (so an older run's best is never published as this one's)."""
    if not main:
        return
    for path in (out, best_path(out)):
        for tmp in stale_temporaries(path):
            tmp.unlink(missing_ok=True)
    if resume:
        _truncate_log(log_path(out), step)
    else:
        log_path(out).unlink(missing_ok=True)
        best_path(out).unlink(missing_ok=True)


def _truncate_log(path: Path, step: int) -> None:
    """Keep the log records up to `step` (later ones were written after the checkpoint a resumed run starts from);
    drop any record without a usable step, such as a last line cut short by a crash."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        s = record.get("step") if isinstance(record, dict) else None
        if isinstance(s, (int, float)) and not isinstance(s, bool) and s <= step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))


def save_latest(run: RunState, dctx: distributed.Context, out: Path) -> None:
    """Write `out` on rank 0; under torchrun every rank first sends its RNG state along (a collective)."""
    if dctx.enabled:
        mine = {"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(run.device).cpu() if run.device.type == "cuda" else None}
        run.rank_rng_states = distributed.gather(mine)
    if dctx.is_main:
        ckpt.save(run.to_checkpoint(), out)
