"""Image encoders by name, each returning a feature map ``[B, C, h, w]`` and its channel count C.

Registry of plain factory functions (timm style): ``create_backbone("synth_cnn")``,
``create_backbone("resnet18", weights="/path/resnet18_msceleb.pth")``,
``create_backbone("timm:convnext_atto")``, ``create_backbone("open_clip:RN50")``.

Weights: ``weights=None`` is random init; a path loads a local checkpoint (a plain state dict or
``{"state_dict": ...}``, ``module.`` prefixes stripped, the classifier dropped); ``"hub"`` asks
timm / torchvision / open_clip to download, and on a machine without internet falls back to random
init with a warning saying so (never silently).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ssfer_core.errors import ConfigError
from ssfer_core.registry import Registry

log = logging.getLogger(__name__)
BACKBONES: Registry[Callable[..., tuple[nn.Module, int]]] = Registry("backbone", "net.backbone")


def register(name: str):
    """``@register("synth_cnn")`` on a factory ``(weights=None, **kw) -> (module, channels)``."""
    def deco(fn):
        return BACKBONES.add(name, fn)
    return deco


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs, identity or 1x1 projection shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int, norm=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = norm(cout)
        self.short = (nn.Identity() if stride == 1 and cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm(cout)))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class SynthCNN(nn.Module):
    """A small ResNet for 32-96 px inputs on CPU: stride-2 stem, then one block per stage."""

    def __init__(self, widths=(32, 64, 128, 256), stem_stride: int = 2, norm: str = "bn"):
        super().__init__()
        # "gn" (GroupNorm) makes every sample independent of its batch: DDP then equals one process.
        layer = nn.BatchNorm2d if norm == "bn" else (lambda c: nn.GroupNorm(min(8, c), c))
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, stem_stride, 1, bias=False),
                                  layer(widths[0]), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(*[BasicBlock(widths[i], widths[i + 1], 2, layer) for i in range(len(widths) - 1)])
        self.out_dim = widths[-1]

    def forward(self, x):
        return self.stages(self.stem(x))


@register("synth_cnn")
def synth_cnn(weights=None, **kw) -> tuple[nn.Module, int]:
    """The CPU default for SynthFACS (about 1.2 M parameters at widths 32-256)."""
    m = SynthCNN(**kw)
    _maybe_load(m, weights)
    return m, m.out_dim


@register("synth_cnn_slim")
def synth_cnn_slim(weights=None, **kw) -> tuple[nn.Module, int]:
    """synth_cnn at half the widths (16-128, about 0.3 M parameters, a quarter of the FLOPs)."""
    m = SynthCNN(widths=(16, 32, 64, 128), **kw)
    _maybe_load(m, weights)
    return m, m.out_dim


@register("synth_cnn_tiny")
def synth_cnn_tiny(weights=None, **kw) -> tuple[nn.Module, int]:
    """Tests and smoke runs: widths 16-64."""
    m = SynthCNN(widths=(16, 32, 64), **kw)
    _maybe_load(m, weights)
    return m, m.out_dim


class _Trunk(nn.Module):
    """torchvision ResNet without avgpool/fc: conv1 ... layer4."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.body = nn.Sequential(*list(net.children())[:-2])

    def forward(self, x):
        return self.body(x)


@register("resnet18")
def resnet18(weights=None) -> tuple[nn.Module, int]:
    """torchvision ResNet-18 as in both papers; pass the MS-Celeb-1M checkpoint path as weights."""
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    if weights == "hub":
        try:
            net = torchvision.models.resnet18(weights="IMAGENET1K_V1")
        except Exception as e:  # offline: say so, keep random init
            log.warning("resnet18: could not download ImageNet weights (%s); using RANDOM init", e)
    elif weights:
        _load_checkpoint(net, weights, strict_trunk=True)
    else:
        log.info("resnet18: random init (no weights given)")
    return _Trunk(net), 512


class _TimmTrunk(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_features(x) if x.dim() == 4 else x


def timm_backbone(name: str, weights=None) -> tuple[nn.Module, int]:
    import timm

    pretrained = weights == "hub"
    try:
        net = timm.create_model(name, pretrained=pretrained, num_classes=0, global_pool="")
    except Exception as e:
        if not pretrained:
            raise
        log.warning("timm %s: could not download weights (%s); using RANDOM init", name, e)
        net = timm.create_model(name, pretrained=False, num_classes=0, global_pool="")
    if weights and weights != "hub":
        _load_checkpoint(net, weights)
    elif not pretrained:
        log.info("timm %s: random init (no weights given)", name)
    return _TimmTrunk(net), net.num_features


class _ClipTower(nn.Module):
    """open_clip image tower; returns its embedding as a 1x1 feature map."""

    def __init__(self, visual):
        super().__init__()
        self.visual = visual

    def forward(self, x):
        return self.visual(x)[:, :, None, None]


def open_clip_backbone(name: str, weights=None) -> tuple[nn.Module, int]:
    import open_clip

    pretrained = None
    if weights and weights != "hub":
        pretrained = str(weights)  # open_clip accepts a local checkpoint path
    model = None
    if weights == "hub":
        try:
            model = open_clip.create_model(name, pretrained=open_clip.list_pretrained_tags_by_model(name)[0])
        except Exception as e:
            log.warning("open_clip %s: could not download weights (%s); using RANDOM init", name, e)
    if model is None:
        model = open_clip.create_model(name, pretrained=pretrained)
        if pretrained is None:
            log.info("open_clip %s: random init (no weights given)", name)
    dim = model.visual.output_dim
    return _ClipTower(model.visual), dim


def create_backbone(name: str, weights: str | None = None, **kw) -> tuple[nn.Module, int]:
    """Build a backbone by registry name, ``timm:<name>`` or ``open_clip:<name>``."""
    if name.startswith("timm:"):
        return timm_backbone(name[5:], weights)
    if name.startswith("open_clip:"):
        return open_clip_backbone(name[10:], weights)
    if name not in BACKBONES:
        raise ConfigError(f"net.backbone={name!r} is not allowed: expected one of: {', '.join(BACKBONES)}, "
                          "timm:<name> or open_clip:<name>")
    return BACKBONES[name](weights=weights, **kw)


def _maybe_load(module: nn.Module, weights) -> None:
    if weights == "hub":
        log.warning("no hub weights exist for this backbone; using RANDOM init")
    elif weights:
        _load_checkpoint(module, weights)


def _load_checkpoint(module: nn.Module, path, strict_trunk: bool = False) -> None:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"backbone checkpoint not found: {path}. Pass an existing .pth file "
                                "or weights=None for random init.")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "head.", "classifier."))}
    own = module.state_dict()
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:  # torch's own error is a page of tensor names; say which file and what to do
        raise ConfigError(f"{path} was saved from another network: {len(wrong)} tensor(s) have other shapes "
                          f"(first: {wrong[0]}); pass a checkpoint of the backbone net.backbone names "
                          "(for synth_cnn*: the pretrain stage's output at the same image size) or net.weights=null")
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(("fc.", "head.", "classifier."))]
    if strict_trunk and (missing or unexpected):
        raise ConfigError(f"{path} does not fit the backbone: missing {missing[:5]}, unexpected {unexpected[:5]}")
    log.info("loaded backbone weights from %s (%d tensors)", path, len(state))
