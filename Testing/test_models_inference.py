"""Device selection, sliding-window inference (against MONAI and against whole-image inference), progress,
cancellation, and CUDA with mixed precision (``gpu`` marker)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from optional_deps import require_torch
from test_models_support import tiny_unet

torch, monai = require_torch()

from HCCInterventionalAILib import device as device_module  # noqa: E402
from HCCInterventionalAILib.models import DeviceUnavailableError, autocast, select_device  # noqa: E402
from HCCInterventionalAILib.models.inference import (  # noqa: E402
    choose_sw_batch_size,
    count_windows,
    sliding_window_predict,
)
from HCCInterventionalAILib.progress import Cancelled, CancelToken, Progress  # noqa: E402

HAS_CUDA = torch.cuda.is_available()


# -- device ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_auto_picks_the_cpu_here_and_logs_why(caplog):
    with caplog.at_level(logging.INFO, logger="HCCInterventionalAILib.device"):
        device = select_device("auto")
    assert device == torch.device("cpu")
    message = caplog.text
    assert "using the CPU because" in message
    assert "no CUDA support" in message or "no CUDA device is visible" in message


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(device_module, "describe_device", lambda device: str(device))
    monkeypatch.setattr(device_module, "_mps_available", lambda torch: True)
    assert select_device("auto") == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == torch.device("mps")


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_explicit_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(DeviceUnavailableError, match="CUDA was requested but"):
        select_device("cuda")
    with pytest.raises(DeviceUnavailableError, match="Unknown device"):
        select_device("tpu-9000")
    assert select_device("cpu") == torch.device("cpu")


def test_no_mixed_precision_on_the_cpu():
    a = torch.ones(4, 4)
    with autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        assert (a @ a).dtype == torch.float32


# -- sliding window -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("image", "roi", "overlap", "expected"), [
    ((256, 256, 160), (96, 96, 96), 0.25, 4 * 4 * 2),  # step 72: ceil(160/72)+1 = 4; ceil(64/72)+1 = 2
    ((50, 40, 30), (32, 32, 32), 0.5, 3 * 2 * 1),  # step 16: ceil(18/16)+1, ceil(8/16)+1; 30 padded to 32
    ((96, 96, 96), (96, 96, 96), 0.25, 1),
])
def test_window_count_by_hand(image, roi, overlap, expected):
    assert count_windows(image, roi, overlap) == expected


@pytest.mark.parametrize("mode", ["gaussian", "constant"])
def test_matches_monai_sliding_window_with_the_same_settings(mode):
    network = tiny_unet(seed=3)
    image = torch.randn(1, 1, 40, 36, 28, generator=torch.Generator().manual_seed(4))
    ours = sliding_window_predict(network, image, (16, 16, 16), overlap=0.25, sw_batch_size=2, device="cpu", mode=mode)
    with torch.no_grad():
        reference = monai.inferers.sliding_window_inference(image, (16, 16, 16), 2, network, overlap=0.25, mode=mode)
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-6)


def test_pointwise_network_gives_the_whole_image_result():
    """A 1×1×1 convolution is exactly translation-equivariant, so stitched windows equal one pass."""
    torch.manual_seed(5)
    network = torch.nn.Sequential(torch.nn.Conv3d(2, 3, kernel_size=1), torch.nn.Tanh())
    image = np.random.default_rng(6).normal(size=(2, 33, 29, 21)).astype(np.float32)  # (C, D, H, W) numpy
    stitched = sliding_window_predict(network, image, (16, 16, 16), overlap=0.5, device="cpu")
    with torch.no_grad():
        direct = network(torch.from_numpy(image)[None])
    assert stitched.shape == (1, 3, 33, 29, 21)
    torch.testing.assert_close(stitched, direct, rtol=1e-5, atol=1e-6)


class _Counting(torch.nn.Module):
    def __init__(self, network):
        super().__init__()
        self.network, self.calls = network, 0

    def forward(self, x):
        self.calls += 1
        return self.network(x)


def test_progress_is_reported_per_window_batch():
    network = _Counting(torch.nn.Conv3d(1, 2, kernel_size=1))
    messages: list[tuple[float, str]] = []
    sliding_window_predict(network, torch.zeros(50, 40, 30), (32, 32, 32), overlap=0.5, sw_batch_size=4,
                           device="cpu", progress=lambda f, m: messages.append((round(f, 3), m)))
    assert network.calls == 2  # 6 windows in batches of 4 and 2
    assert messages[1:] == [(0.667, "Inference: window 4 of 6"), (1.0, "Inference: window 6 of 6")]


def test_cancellation_stops_inference_at_the_next_window_batch():
    network = _Counting(tiny_unet(seed=0))
    token = CancelToken()

    def cancel_after_first_batch(fraction: float, message: str) -> None:
        if message.startswith("Inference: window"):
            token.cancel()

    with pytest.raises(Cancelled):
        sliding_window_predict(network, torch.zeros(1, 1, 48, 48, 48), (16, 16, 16), sw_batch_size=1,
                               device="cpu", progress=Progress(cancel_after_first_batch, token))
    assert network.calls == 1


def test_cpu_batch_size_default():
    assert choose_sw_batch_size(torch.nn.Identity(), (96, 96, 96), 1, torch.device("cpu"), n_windows=32) == 1


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_cuda_with_autocast_matches_the_cpu():
    network = tiny_unet(seed=7)
    image = torch.randn(1, 1, 80, 72, 64, generator=torch.Generator().manual_seed(8))
    cpu = sliding_window_predict(network, image, (32, 32, 32), device="cpu")
    gpu = sliding_window_predict(network, image, (32, 32, 32), device="cuda", mixed_precision=True)
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float32
    gpu = gpu.cpu()
    scale = float(cpu.abs().max())
    torch.testing.assert_close(gpu, cpu, rtol=0.0, atol=0.02 * scale)  # float16 rounding
    agreement = float((gpu.argmax(1) == cpu.argmax(1)).float().mean())
    assert agreement > 0.98
