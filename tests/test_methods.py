"""Every registered method on a fixed tiny batch: the loss falls; each switch changes only its part."""
import copy

import pytest
import torch

from ssfer_core.config import ConfigError, apply_overrides
from ssfer_core.data.loading import load_data
from ssfer_core.data.views import normalize, strong_view, weak_view
from ssfer_core.build import build_method
from ssfer_core.methods import METHODS
from ssfer_core.methods.unlabeled import CategoryLevelLoss
from ssfer_core.train import make_batch, make_view, score_pseudo_labels


def _setup(cfg, overrides=()):
    cfg = apply_overrides(copy.deepcopy(cfg), list(overrides))
    data = load_data(cfg.data)
    torch.manual_seed(0)
    method = build_method(cfg, 7, len(data.labeled_idx))
    g = torch.Generator().manual_seed(0)
    li = torch.arange(14)
    labeled = {"x": normalize(weak_view(data.train_images[data.labeled_idx[li]], g)),
               "y": data.train_labels[data.labeled_idx[li]], "idx": li}
    xu = data.train_images[data.unlabeled_idx[:28]]
    unlabeled = {"weak": normalize(weak_view(xu, g)), "weak2": normalize(weak_view(xu, g)),
                 "strong": normalize(strong_view(xu, g))}
    return method, labeled, unlabeled, data.train_labels[data.unlabeled_idx[:28]]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_loss_decreases_on_a_fixed_batch(tiny_cfg, name):
    tiny_cfg.method = name
    method, labeled, unlabeled, _ = _setup(tiny_cfg, ["fixmatch.threshold=0.5", "sitfer.threshold=0.3", "sitfer.instance_warmup=0"])
    opt = torch.optim.Adam(method.parameters(), lr=3e-3)
    losses, sup = [], []
    method.train()
    for step in range(60):  # LEAF's noisy top-1 routing makes fitting one batch slower
        loss, logs = method.train_step(labeled, unlabeled, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        sup.append(logs["loss_s"])
        assert torch.isfinite(loss)
    assert sum(sup[-5:]) / 5 < 0.9 * sum(sup[:5]) / 5
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5



@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_under_bfloat16_autocast(tiny_cfg, name):
    """The shared protocol trains under bf16 autocast on CUDA; CPU autocast casts the same matmuls, so a
    dtype clash (a bf16 result written into a float32 buffer) shows here without a GPU. Several steps,
    so that memory banks are filled and read (SIT-FER's instance level from step 1)."""
    tiny_cfg.method = name
    method, labeled, unlabeled, _ = _setup(tiny_cfg, ["fixmatch.threshold=0.5", "sitfer.threshold=0.3", "sitfer.instance_warmup=0"])
    method.train()
    for step in range(3):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = method.train_step(labeled, unlabeled, step)
        assert torch.isfinite(loss), (name, step)
        loss.backward()

def _first_step_logs(cfg, overrides):
    """One step; the pseudo-labels the method returns are scored as the trainer scores them."""
    method, labeled, unlabeled, y_true = _setup(cfg, overrides)
    method.train()
    torch.manual_seed(1)
    loss, logs = method.train_step(labeled, unlabeled, step=100)
    loss.backward()
    return method, score_pseudo_labels(logs, y_true)


def test_sitfer_mssl_switch_removes_only_the_text_loss(tiny_cfg):
    tiny_cfg.method = "sitfer"
    base = ["sitfer.instance_warmup=0"]
    on, logs_on = _first_step_logs(tiny_cfg, base)
    off, logs_off = _first_step_logs(tiny_cfg, base + ["sitfer.mssl=false"])
    assert logs_on["loss_t"] > 0 and logs_off["loss_t"] == 0
    for k in ("loss_s", "loss_u", "pl_pass_rate", "pl_acc"):
        assert logs_on[k] == pytest.approx(logs_off[k])
    # L_t reaches the encoder only (the random text vectors live in the feature space: no projection)
    assert torch.allclose(on.model.classifier.weight.grad, off.model.classifier.weight.grad, atol=1e-6)
    enc_on, enc_off = (next(m.model.backbone.parameters()).grad for m in (on, off))
    assert (enc_on - enc_off).abs().max() > 1e-6


def test_sitfer_level_switches(tiny_cfg):
    tiny_cfg.method = "sitfer"
    _, all_levels = _first_step_logs(tiny_cfg, ["sitfer.instance_warmup=0"])
    assert {"pl_semantic_acc", "pl_text_acc", "pl_instance_acc"} <= set(all_levels)
    _, no_mipg = _first_step_logs(tiny_cfg, ["sitfer.instance_warmup=0", "sitfer.mipg=false"])
    assert "pl_semantic_acc" in no_mipg and "pl_text_acc" not in no_mipg and "pl_instance_acc" not in no_mipg
    assert no_mipg["pl_acc"] == pytest.approx(no_mipg["pl_semantic_acc"])  # fused == semantic
    _, text_only = _first_step_logs(tiny_cfg, ["sitfer.instance_warmup=0", "sitfer.use_semantic=false", "sitfer.use_instance=false"])
    levels = {k for k in text_only if k.startswith("pl_") and k.endswith("_acc") and not k.endswith("pass_acc")
              and k != "pl_acc"}
    assert levels == {"pl_text_acc"}
    _, warm = _first_step_logs(tiny_cfg, ["sitfer.instance_warmup=10.0"])  # step 100 < 10 * 12 steps: warming up
    assert "pl_instance_acc" not in warm and warm["instance_on"] == 0.0
    for k in ("loss_s", "loss_t"):  # the pseudo-label levels do not touch the labeled losses
        assert all_levels[k] == pytest.approx(no_mipg[k]) == pytest.approx(warm[k])


def test_leaf_switches_change_only_their_part(tiny_cfg):
    tiny_cfg.method = "leaf"
    full, logs = _first_step_logs(tiny_cfg, [])
    assert full.model.semantic is not None and full.model.instance is not None and "positive_set_size" in logs
    no_cat, logs_nc = _first_step_logs(tiny_cfg, ["leaf.category=false"])
    assert "positive_set_size" not in logs_nc
    assert logs_nc["loss_s"] == pytest.approx(logs["loss_s"]) and logs_nc["pl_pass_rate"] == pytest.approx(logs["pl_pass_rate"])
    no_sem, _ = _first_step_logs(tiny_cfg, ['net.semantic_moe="off"'])  # quoted: YAML reads a bare off as false
    assert no_sem.model.semantic is None and no_sem.model.instance is not None
    no_ins, _ = _first_step_logs(tiny_cfg, ["net.instance_moe=false"])
    assert no_ins.model.instance is None and no_ins.model.semantic is not None
    dense, _ = _first_step_logs(tiny_cfg, ["net.gating=dense"])
    x = torch.randn(3, 3, 32, 32)
    assert (dense.model.eval()(x)["gates_instance"] > 0).all()
    assert ((full.model.eval()(x)["gates_instance"] > 0).sum(1) == 1).all()


def test_plugins_carry_leaf_blocks(tiny_cfg):
    for name in ("leaf+fixmatch", "leaf+sitfer"):
        tiny_cfg.method = name
        m, logs = _first_step_logs(tiny_cfg, [])
        assert m.model.semantic is not None and m.model.instance is not None
        assert isinstance(m.unlabeled_loss, CategoryLevelLoss)  # composition: the host's loss object
        assert "positive_set_size" in logs and "pl_positive_recall" in logs


def test_unknown_method_and_key(tiny_cfg):
    tiny_cfg.method = "mixmatch"
    with pytest.raises(ConfigError, match="method='mixmatch' is not allowed"):
        build_method(tiny_cfg, 7, 28)
    with pytest.raises(ConfigError, match="unknown config key 'fixmatch.thresh'"):
        apply_overrides(tiny_cfg, ["fixmatch.thresh=0.9"])


def test_logit_scale_multiplies_only_normalised_heads(tiny_cfg):
    from ssfer_core.config import NetConfig
    from ssfer_core.models.network import FERNet

    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(0)
    base = FERNet(NetConfig(backbone="synth_cnn_tiny", l2_normalize=True), 7).eval()
    torch.manual_seed(0)
    scaled = FERNet(NetConfig(backbone="synth_cnn_tiny", l2_normalize=True, logit_scale=16.0), 7).eval()
    torch.manual_seed(0)
    plain = FERNet(NetConfig(backbone="synth_cnn_tiny", l2_normalize=False, logit_scale=16.0), 7).eval()
    a, b = base(x), scaled(x)
    assert torch.allclose(b["logits"], 16 * a["logits"], atol=1e-5)
    assert torch.equal(a["feature"], b["feature"])
    assert torch.allclose(plain(x)["logits"], plain.classifier(plain(x)["feature"]))


def test_methods_never_see_the_hidden_labels(tiny_cfg):
    tiny_cfg.method = "leaf"
    data = load_data(tiny_cfg.data)
    g = torch.Generator().manual_seed(0)
    views = ("weak", "weak2", "strong")
    labeled, unlabeled, y_u = make_batch(data, torch.arange(4), torch.arange(6), views, g, tiny_cfg, "cpu",
                                         slice(0, 4), slice(0, 6))
    assert set(unlabeled) == set(views) and torch.equal(y_u, data.train_labels[data.unlabeled_idx[:6]])
    _, logs = _first_step_logs(tiny_cfg, [])
    assert 0 <= logs["pl_positive_recall"] <= 1 and "positive_sets" not in logs and "pseudo" not in logs


def test_an_unknown_view_name_is_an_error(tiny_cfg):
    with pytest.raises(ValueError, match="unknown view 'strnog'"):
        make_view("strnog", torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.Generator(), tiny_cfg)


def test_sitfer_logs_each_levels_contribution_and_can_delay_its_unlabeled_loss(tiny_cfg):
    tiny_cfg.method = "sitfer"
    _, logs = _first_step_logs(tiny_cfg, ["sitfer.instance_warmup=0", "steps=1000"])
    for level in ("semantic", "text", "instance"):
        assert logs[f"contrib_{level}"] > 0, level
    _, late = _first_step_logs(tiny_cfg, ["sitfer.instance_warmup=0", "steps=1000", "sitfer.unlabeled_warmup=0.5"])
    assert late["loss_u"] == 0 and late["pl_pass_rate"] == pytest.approx(logs["pl_pass_rate"])
    # with the levels on the head's scale, the text and instance levels are not 10x weaker
    _, raw = _first_step_logs(tiny_cfg, ["sitfer.instance_warmup=0", "steps=1000", "sitfer.level_scale=1"])
    assert raw["contrib_text"] == pytest.approx(logs["contrib_text"] / 16, rel=1e-4)
