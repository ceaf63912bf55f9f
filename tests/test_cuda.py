"""The CUDA paths: AMP (bf16) training, device placement, NCCL DDP. Skipped without a GPU; run by
``bench/device_check.sh`` on a lent GPU machine (``pytest -m cuda``)."""
import copy

import pytest
import torch
import torch.multiprocessing as mp

from ssfer_core.train import train
from test_train import _ddp_worker, _free_port  # the same rank launcher as the gloo DDP test

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("name", ["supervised", "fixmatch", "sitfer", "leaf", "leaf+sitfer"])
def test_amp_bf16_training_runs_and_matches_fp32_start(tiny_cfg, tmp_path, name):
    tiny_cfg.method, tiny_cfg.device = name, "cuda"
    fp32 = copy.deepcopy(tiny_cfg)
    fp32.amp = False
    m_amp = train(tiny_cfg, tmp_path / "amp", device="cuda", progress=False)
    m_fp32 = train(fp32, tmp_path / "fp32", device="cuda", progress=False)
    for m in (m_amp, m_fp32):
        assert 0 <= m["ema"]["last"]["acc"] <= 1
    # bf16 rounding moves the result a little, not a lot, over 12 steps
    assert abs(m_amp["raw"]["last"]["acc"] - m_fp32["raw"]["last"]["acc"]) < 0.2


def test_cuda_forward_matches_cpu(tiny_cfg):
    from ssfer_core.build import build_method

    tiny_cfg.method, tiny_cfg.device = "leaf", "cuda"
    torch.manual_seed(0)
    m = build_method(tiny_cfg, 7, 28).eval()
    x = torch.randn(6, 3, 32, 32)
    cpu = m.model(x)["logits"]
    gpu = m.to("cuda").model(x.to("cuda"))["logits"].cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_ddp_nccl_two_gpus_match_one(tiny_cfg, tmp_path):
    tiny_cfg.method, tiny_cfg.device = "fixmatch", "cuda"
    tiny_cfg.net.norm = "gn"
    tiny_cfg.amp = False
    one = train(tiny_cfg, tmp_path / "one", device="cuda", progress=False)
    mp.spawn(_ddp_worker, args=(2, _free_port(), tiny_cfg, tmp_path / "two", "cuda"), nprocs=2)
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=False)["method"]
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=False)["method"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-4), k
    assert one["raw"]["last"]["acc"] >= 0
