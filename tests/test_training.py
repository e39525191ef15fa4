"""The training pieces both trainers share (charrnn.training): precision, loss scaling, checkpoint assembly and
the signal guard."""
import signal

import pytest
import torch

from charrnn import checkpoint as ckpt
from charrnn.lm.train import TrainConfig
from charrnn.training import (
    autocast,
    checkpoint_dict,
    cpu_state_dict,
    grad_scaler,
    optimizer_step,
    precision_for,
    stop_signals,
)

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_precision_today_is_fp16_on_cuda_with_amp_and_fp32_elsewhere():
    assert precision_for(CUDA, amp=True) == "fp16"
    assert precision_for(CUDA, amp=False) == "fp32"
    assert precision_for(CPU, amp=True) == precision_for(CPU, amp=False) == "fp32"
    assert precision_for(torch.device("mps"), amp=True) == "fp32"


def test_a_grad_scaler_only_for_fp16_on_cuda():
    for precision in ("fp32", "bf16", "fp16"):
        assert not grad_scaler(CPU, precision).is_enabled()
    assert not grad_scaler(CUDA, "bf16").is_enabled() and not grad_scaler(CUDA, "fp32").is_enabled()


def test_autocast_fp32_changes_nothing_and_bf16_works_on_cpu():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast(CPU, "fp32"):
        assert torch.equal(a @ b, torch.mm(a, b)) and (a @ b).dtype == torch.float32
    with autocast(CPU, "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16"):
        autocast(CPU, "int8")


def test_optimizer_step_clips_the_gradient_and_steps():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer_step(1000 * model(torch.ones(2, 3)).sum(), opt, grad_scaler(CPU, "fp32"), model, grad_clip=0.5)
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert grads.norm() == pytest.approx(0.5, rel=1e-4)
    for p, b in zip(model.parameters(), before):
        assert torch.allclose(p.detach(), b - p.grad), "one SGD step with the clipped gradient"


def test_checkpoint_dict_has_the_common_entries_and_the_kinds_own():
    model = torch.nn.Linear(2, 2)
    weights = cpu_state_dict(model)
    with torch.no_grad():
        model.weight.add_(1)
    assert not torch.equal(weights["weight"], model.weight), "a copy, not the live weights"
    metrics = {"val_loss": 1.0}
    d = checkpoint_dict("char-lm", {"hidden": 2}, TrainConfig(steps=3), ["a", "b"], weights, metrics,
                        trainer={"step": 3})
    assert d["format_version"] == ckpt.FORMAT_VERSION and d["kind"] == "char-lm"
    assert d["config"] == {"model": {"hidden": 2}, "train": {**d["config"]["train"], "steps": 3}}
    assert d["vocab"] == ["a", "b"] and d["state_dict"] is weights and d["trainer"] == {"step": 3}
    metrics["val_loss"] = 2.0
    assert d["metrics"] == {"val_loss": 1.0}, "metrics are copied when the checkpoint is assembled"


def test_stop_signals_records_signals_and_restores_the_handlers_however_the_block_ends():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with stop_signals() as caught:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
    assert caught == [signal.SIGINT, signal.SIGTERM]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    with pytest.raises(RuntimeError, match="boom"), stop_signals():
        raise RuntimeError("boom")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_stop_signals_outside_the_main_thread_installs_nothing():
    import threading

    seen = []

    def worker():
        with stop_signals() as caught:
            seen.append((caught, signal.getsignal(signal.SIGINT)))

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [([], before)]
