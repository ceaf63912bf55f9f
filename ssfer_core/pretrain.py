"""Face-geometry pretraining: SynthFACS's stand-in for the papers' MS-Celeb-1M face-recognition
backbone, which cannot be downloaded here.

The backbone learns to regress **expression-agnostic** factors only -- identity geometry (face
shape, eye spacing and size, brow thickness, nose, mouth width, lip thickness), head pose and
framing -- on a SynthFACS set generated with a *different seed* from the study's data. It never
sees an expression label or an Action Unit. Like face-recognition pretraining on real faces, this
teaches the network where the facial parts are and how to measure them, which expression
recognition then reuses. ``net.weights: null`` trains from scratch instead (measured in the README).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ssfer_core.data.readers import read_rafdb, read_synthfacs_metadata
from ssfer_core.data.store import load_images
from ssfer_core.atomic import torch_save
from ssfer_core.data.views import normalize, test_view, weak_view
from ssfer_core.models.backbones import create_backbone

log = logging.getLogger(__name__)
GEOMETRY = ("face_w", "face_h", "jaw_taper", "eye_sep", "eye_size", "eye_v", "brow_thick", "brow_arch",
            "nose_w", "nose_len", "mouth_w", "lip_thick", "mouth_v", "roll", "yaw", "pitch", "scale", "tx", "ty")


def pretrain_geometry(data_root: str | Path, out: str | Path, backbone: str = "synth_cnn", image_size: int = 48,
                      steps: int = 1000, batch: int = 64, lr: float = 2e-3, seed: int = 0,
                      progress: bool = True) -> dict:
    """Train ``backbone`` to regress standardised geometry/pose factors; save its state dict."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    records = read_rafdb(data_root)
    meta = read_synthfacs_metadata(data_root)
    images, kept = load_images(records, image_size)
    target = meta.loc[[r.key for r in kept], list(GEOMETRY)].to_numpy(np.float32)
    target = torch.from_numpy((target - target.mean(0)) / target.std(0).clip(1e-6))
    net, dim = create_backbone(backbone)
    head = torch.nn.Linear(dim, len(GEOMETRY))
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    n_val = max(1, len(kept) // 10)  # held-out images to report how well geometry is learned
    losses, t0 = [], time.time()
    for _ in tqdm(range(steps), desc="geometry pretraining", disable=not progress):
        i = torch.randint(n_val, len(kept), (batch,), generator=g)
        x = normalize(weak_view(images[i], g, pad_frac=0.0))  # no crop/flip: targets are positions
        loss = F.mse_loss(head(net(x).mean((2, 3))), target[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    net.eval()
    with torch.no_grad():
        pred = torch.cat([head(net(normalize(test_view(images[j : min(j + 256, n_val)]))).mean((2, 3)))
                          for j in range(0, n_val, 256)])
    r2 = 1 - ((pred - target[:n_val]) ** 2).mean(0) / target[:n_val].var(0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch_save(net.state_dict(), out)
    # The report is a tracked file: no wall-clock time, and values rounded to what is the same on
    # another CPU (the last digits of the MSE move with the machine's kernels; README, tolerance).
    report = {"backbone": backbone, "steps": steps, "final_train_mse": round(float(np.mean(losses[-50:])), 2),
              "heldout_r2": {k: round(float(v), 2) for k, v in zip(GEOMETRY, r2)}}
    log.info("geometry pretraining: held-out mean R^2 %.3f in %.1f s", float(r2.mean()), time.time() - t0)
    return report
