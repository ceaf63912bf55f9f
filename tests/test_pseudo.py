import math

import pytest
import torch
import torch.nn.functional as F

from ssfer_core import pseudo


def test_threshold_mask_global_and_per_class():
    p = torch.tensor([[0.96, 0.04], [0.6, 0.4], [0.1, 0.9]])
    mask, conf, lab = pseudo.threshold_mask(p, 0.95)
    assert mask.tolist() == [1, 0, 0] and lab.tolist() == [0, 0, 1]
    mask, _, _ = pseudo.threshold_mask(p, torch.tensor([0.5, 0.95]))  # class 1 needs 0.95
    assert mask.tolist() == [1, 1, 0]


def test_masked_cross_entropy_reductions():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    target = torch.tensor([0, 0, 1])
    mask = torch.tensor([1.0, 1.0, 0.0])
    ce = F.cross_entropy(logits, target, reduction="none")
    assert pseudo.masked_cross_entropy(logits, target, mask, "batch") == pytest.approx((ce[0] + ce[1]).item() / 3)
    assert pseudo.masked_cross_entropy(logits, target, mask, "selected") == pytest.approx((ce[0] + ce[1]).item() / 2)
    assert pseudo.masked_cross_entropy(logits, target, torch.zeros(3), "selected") == 0.0
    soft = F.one_hot(target, 2).float()
    assert pseudo.masked_cross_entropy(logits, soft, mask) == pytest.approx(pseudo.masked_cross_entropy(logits, target, mask).item())


def test_sharpen():
    p = torch.tensor([[0.6, 0.4]])
    assert torch.equal(pseudo.sharpen(p, 1.0), p)
    s = pseudo.sharpen(p, 0.5)
    assert s[0, 0] == pytest.approx(0.36 / 0.52)


def test_fusion_rules_by_hand():
    sem = torch.tensor([[1.0, 0.0]])
    text = torch.tensor([[0.0, 1.0]])
    ins = torch.tensor([[0.5, 0.0]])
    z = 0.3 * 1.0 + 0.5 * 0.5, 0.2 * 1.0
    want = torch.tensor([z]).softmax(-1)
    assert torch.allclose(pseudo.fuse_official(sem, text, ins, (0.3, 0.2, 0.5)), want)
    # a disabled level (None) is left out
    assert torch.allclose(pseudo.fuse_official(sem, None, None, (0.3, 0.2, 0.5)), (0.3 * sem).softmax(-1))
    a, b = torch.tensor([[0.8, 0.2]]), torch.tensor([[0.2, 0.8]])
    assert torch.allclose(pseudo.fuse_paper_mean([a, b, a]), torch.tensor([[0.6, 0.4]]))
    with pytest.raises(ValueError):
        pseudo.fuse_official(None, None, None, (1, 1, 1))


def test_ambiguous_sets_official_quirk_and_consistent_variant():
    p = torch.tensor([[0.85, 0.10, 0.03, 0.02],   # top-2 mass .95 >= .9 -> i=1 (quirk): {0}
                      [0.50, 0.30, 0.15, 0.05],   # top-2 .80, top-3 .95 -> i=2: {0,1}
                      [0.30, 0.30, 0.20, 0.20]])  # never reaches .9 within top-4? top-4=1.0 -> i=3
    pos, size, _ = pseudo.ambiguous_sets(p, 0.9, 3)
    assert size.tolist() == [1, 2, 3]
    assert pos.tolist() == [[True, False, False, False], [True, True, False, False], [True, True, True, False]]
    pos_c, size_c, _ = pseudo.ambiguous_sets(p, 0.9, 3, consistent=True)
    assert size_c.tolist() == [2, 3, 3]  # the kept set itself must reach the mass


def test_positive_negative_loss_by_hand():
    z = torch.tensor([[3.0, 1.0, -1.0]])
    pos = torch.tensor([[True, True, False]])
    want = math.log1p(math.exp(math.log(math.exp(-3) + math.exp(-1)) + (-1.0)))
    assert pseudo.positive_negative_loss(z, pos).item() == pytest.approx(want, rel=1e-5)
    # the loss falls when positives rise above negatives
    assert pseudo.positive_negative_loss(z * 3, pos) < pseudo.positive_negative_loss(z, pos)


def test_ambiguity_weight_by_hand():
    sp = torch.tensor([[0.6, 0.3, 0.1]])
    size = torch.tensor([1])
    m, p = 0.45, 0.3
    assert pseudo.ambiguity_weight(sp, size, "concave").item() == pytest.approx(math.log1p(50 * (m - p)) / math.log1p(50 * m), rel=1e-5)
    assert pseudo.ambiguity_weight(sp, size, "linear").item() == pytest.approx((m - p) / m, rel=1e-5)
    assert pseudo.ambiguity_weight(sp, size, "none").item() == 1.0


def test_category_loss_is_rescaled_to_the_hard_ce():
    torch.manual_seed(0)
    logits = torch.randn(8, 7, requires_grad=True)
    probs = torch.randn(8, 7).softmax(-1)
    ones = torch.ones(8)
    loss, info = pseudo.category_level_loss(logits, probs, ones, weighting="none")
    ce = F.cross_entropy(logits, probs.argmax(-1))
    assert loss.item() == pytest.approx(ce.item(), rel=1e-5)  # mean of rescaled loss = CE mean
    loss.backward()
    assert logits.grad.abs().sum() > 0
    masked, _ = pseudo.category_level_loss(logits, probs, torch.zeros(8))
    assert masked.item() == 0.0


def test_adaptive_thresholds():
    t = pseudo.adaptive_thresholds(torch.tensor([0.99, 0.5]), epoch=10)
    assert t[0].item() == pytest.approx(0.97 * 0.99 / (1 + math.exp(-10)))
    assert t[1].item() == pytest.approx(0.8)


def test_supcon_prefers_aligned_views():
    torch.manual_seed(0)
    f = torch.randn(6, 8)
    aligned = pseudo.supcon_loss(f, f + 0.01 * torch.randn(6, 8))
    shuffled = pseudo.supcon_loss(f, f[torch.randperm(6)])
    assert aligned < shuffled
    assert pseudo.supcon_loss(f[:1], f[:1]).item() == 0.0


def test_strict_threshold_drops_a_confidence_exactly_at_the_threshold():
    """FixMatch passes a confidence equal to the threshold; the SIT-FER release (``>``) does not."""
    import torch

    from ssfer_core import pseudo

    probs = torch.tensor([[0.75, 0.25], [0.8, 0.2], [0.3, 0.7]])
    assert pseudo.threshold_mask(probs, 0.75)[0].tolist() == [1.0, 1.0, 0.0]
    assert pseudo.threshold_mask(probs, 0.75, strict=True)[0].tolist() == [0.0, 1.0, 0.0]
