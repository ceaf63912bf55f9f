import torch

from ssfer_core.data.views import normalize, strong_view, weak_view


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (6, 3, 16, 16), generator=g, dtype=torch.uint8)


def test_weak_view_is_a_flipped_shifted_crop():
    x = _batch()
    y = weak_view(x, torch.Generator().manual_seed(1), pad_frac=0.25)
    assert y.shape == (6, 3, 16, 16) and y.dtype == torch.float32 and 0 <= y.min() and y.max() <= 1
    xf = x.float() / 255
    # every view's centre 8x8 block appears somewhere in the (possibly flipped) source
    for i in range(6):
        centre = y[i, :, 4:12, 4:12]
        found = any(torch.allclose(src[:, r : r + 8, c : c + 8], centre)
                    for src in (xf[i], xf[i].flip(2)) for r in range(9) for c in range(9))
        assert found


def test_views_are_reproducible_from_the_generator():
    x = _batch()
    a = strong_view(x, torch.Generator().manual_seed(5))
    b = strong_view(x, torch.Generator().manual_seed(5))
    c = strong_view(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1


def test_strong_view_changes_images_more_than_weak():
    x = _batch()
    g = torch.Generator().manual_seed(0)
    xf = x.float() / 255
    weak = (weak_view(x, g, pad_frac=0) - xf).abs().mean()
    strong = (strong_view(x, g, pad_frac=0, n_ops=3) - xf).abs().mean()
    assert strong > weak


def test_normalize():
    x = torch.full((1, 3, 2, 2), 0.485)
    assert normalize(x)[0, 0].abs().max() < 1e-6
