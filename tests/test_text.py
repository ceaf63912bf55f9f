import pytest
import torch

from ssfer_core.models import text
from ssfer_core.models.text import class_prompts, text_embeddings


def test_prompts():
    p = class_prompts(7)
    assert p[3] == "A face image of happy" and len(p) == 7
    assert class_prompts(8, descriptions="au")[7].startswith("A face image of contempt: one lip corner")


def test_minilm_offline_embeddings_are_cached(tmp_path, monkeypatch):
    emb = text_embeddings("minilm", class_prompts(7), cache_dir=tmp_path)
    assert emb.shape == (7, 384) and torch.allclose(emb.norm(dim=1), torch.ones(7), atol=1e-5)
    sims = emb @ emb.T
    assert (sims.diag() > sims.fill_diagonal_(0).max(1).values).all()  # each prompt is its own nearest
    assert len(list(tmp_path.glob("text_*.pt"))) == 1

    def boom(prompts):
        raise AssertionError("encoder called although the cache exists")

    monkeypatch.setattr(text, "_encode_minilm", boom)
    again = text_embeddings("minilm", class_prompts(7), cache_dir=tmp_path)
    assert torch.equal(again, emb)


def test_random_text_vectors_reproduce_the_official_code(tmp_path):
    a = text_embeddings("random", class_prompts(7), cache_dir=None, seed=5)
    b = text_embeddings("random", class_prompts(7), cache_dir=None, seed=5)
    assert a.shape == (7, 512) and torch.equal(a, b)
    with pytest.raises(ValueError, match="unknown text encoder"):
        text_embeddings("bert", class_prompts(7), cache_dir=None)
