"""ssfer's `official` LEAF and SIT-FER against numbers recorded from the released code.

Fixtures: tests/fixtures/official_leaf.json (zfkarl/LEAF 7873d3a) and official_sitfer.json
(PatrickStarL/SIT-FER 2aa046c), written once by tests/fixtures/record_official.py, which drives
the releases' own modules and training loops (its docstring names every function exercised) on a
tiny network: a Conv(3, 16) + BN + ReLU trunk, then the releases' blocks at width 16. Here the same
weights go into ssfer's FERNet and methods with their official settings; every number must agree
to 1e-5 (max absolute difference).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import types
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from ssfer_core import pseudo
from ssfer_core.config import compose_config
from ssfer_core.methods.base import RunContext
from ssfer_core.methods.leaf import Leaf, leaf_unlabeled_loss
from ssfer_core.methods.sitfer import SitFer
from ssfer_core.methods.unlabeled import HardLabelLoss
from ssfer_core.models.backbones import BACKBONES
from ssfer_core.models.config import NetConfig
from ssfer_core.models.network import FERNet
from ssfer_core.optim import make_optimizer, make_schedule
from ssfer_core.train import optimizer_step

FIXTURES = Path(__file__).parent / "fixtures"
TOL = 1e-5
T = torch.tensor


def close(a, b, tol=TOL):
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = (a - b).abs().max().item() if a.numel() else 0.0
    assert diff <= tol, f"max |diff| {diff:.2e} > {tol:.0e}"


@pytest.fixture(scope="module", autouse=True)
def trunk_backbone():
    """The fixtures' trunks, registered as backbones for the duration of this module: LEAF's ends
    in a ReLU, SIT-FER's does not (its features take both signs: negative cosines to the bank)."""
    def trunk(relu: bool):
        return lambda weights=None, **kw: (nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                                                         *([nn.ReLU()] if relu else [])), 16)
    BACKBONES.add("official_fixture_trunk", trunk(True))
    BACKBONES.add("official_fixture_trunk_linear", trunk(False))
    yield
    BACKBONES.remove("official_fixture_trunk")
    BACKBONES.remove("official_fixture_trunk_linear")


def release_entries(official: dict):
    """(ssfer's name, value) for each of the release's tensors; its MoE blocks' Normal(0, 1) buffers
    (used only by the unused load-balancing term) have no counterpart."""
    for k, v in official.items():
        if not (k.endswith("_moe.mean") or k.endswith("_moe.std")):
            yield official_name(k), v


def official_name(k: str) -> str:
    for a, b in (("base.", "backbone."), ("semantic_moe.", "semantic."), ("instance_moe.", "instance.")):
        if k.startswith(a):
            return b + k[len(a):]
    return k


def load_weights(net: nn.Module, official: dict) -> None:
    """The release's tensors into ssfer's network, every one of them used."""
    missing, unexpected = net.load_state_dict({k: T(v) for k, v in release_entries(official)}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") or ".experts." in k for k in missing), missing


def compare_grads(net: nn.Module, grads: dict) -> None:
    """Every parameter's gradient after the step's backward (the release names them its own way)."""
    mine = {k: p.grad for k, p in net.named_parameters()}
    for k, g in grads.items():
        k = official_name(k)
        if mine[k] is None:  # no path to the loss here; in the release the gradient is exactly 0
            assert not T(g).any(), k
            continue
        close(mine[k], g)


def compare_state(net: nn.Module, official: dict) -> None:
    """Every weight and buffer after the optimiser step (and the EMA step)."""
    mine = net.state_dict()
    n = 0
    for k, v in release_entries(official):
        try:
            close(mine[k], v)
        except AssertionError as e:
            raise AssertionError(f"{k}: {e}") from None
        n += 1
    assert n >= 5


def official_config(method: str):
    cfg = compose_config({"method": method, "protocol": "official"})
    cfg.net.backbone = "official_fixture_trunk"
    return cfg


class Recorder:
    """Keeps each forward's output dict (the release runs one forward per view)."""

    def __init__(self, net: nn.Module):
        self.calls = []
        net.register_forward_hook(lambda m, i, o: self.calls.append({k: v.detach() for k, v in o.items()}))


# ----------------------------------------------------------------------------- LEAF
LEAF_NET = NetConfig(backbone="official_fixture_trunk", dropout=0.5, l2_normalize=True, semantic_moe="pooled",
                     instance_moe=True, experts="tied_residual", gating="topk", top_k=1, noisy_gating=True,
                     logit_scale=16.0, balance_coef=0.0)  # the scale must not apply behind the instance experts


@pytest.fixture(scope="module")
def leaf_fx():
    return json.loads((FIXTURES / "official_leaf.json").read_text())


def leaf_net(fx) -> FERNet:
    net = FERNet(LEAF_NET, 7)
    load_weights(net, fx["weights"])
    return net


def test_leaf_fixture_names_the_release(leaf_fx):
    src = leaf_fx["source"]
    assert src["repository"] == "zfkarl/LEAF" and src["commit"].startswith("7873d3a")
    assert "Instance_MoE" in src["functions"] and "topk_ce_FPL" in src["functions"]


def test_leaf_forward_matches_release(leaf_fx):
    """Both MoE blocks (tied residual expert, noisy top-1 gate), the normalised feature, the logits."""
    net = leaf_net(leaf_fx).eval()
    f = leaf_fx["forward"]
    with torch.no_grad():
        out = net(T(f["x"]))
    close(out["relevant_semantic"], f["semantic_out"])
    close(out["feature"], f["feature"])
    close(out["relevant_instance"], f["instance_out"])
    close(out["logits"], f["logits"])


def test_leaf_train_step_matches_release(leaf_fx):
    """One iteration of the release's train(): per-view forwards (same dropout and gate-noise draws),
    the mask, sets, weights, category-level loss with its ratio and global masking, SupCon, the
    total loss, the Adam step, the EMA of the whole state and the hidden live-weight decay."""
    st_fx = leaf_fx["train_step"]
    net = leaf_net(leaf_fx)
    cfg = official_config("leaf")  # the registered official recipe, nothing added
    assert (cfg.lr, cfg.ema, cfg.live_decay) == pytest.approx((st_fx["lr"], st_fx["ema_decay"], st_fx["live_decay"]))
    for key in ("experts", "gating", "top_k", "noisy_gating", "balance_coef", "dropout", "l2_normalize",
                "semantic_moe", "instance_moe"):
        assert getattr(cfg.net, key) == getattr(LEAF_NET, key), key
    ctx = RunContext(num_classes=7, n_labeled=6, steps=1, steps_per_epoch=1, forward_passes=cfg.forward_passes)
    method = Leaf(cfg.leaf, net, ctx, leaf_unlabeled_loss(cfg.leaf))
    method.thresholds.copy_(T(st_fx["threshold"]))
    st = types.SimpleNamespace(method=method, ema=copy.deepcopy(net).eval(), step=0)
    st.opt = make_optimizer(cfg, method.named_parameters())
    st.sched = make_schedule(cfg, st.opt)
    rec = Recorder(net)
    method.train()
    torch.manual_seed(st_fx["seed"])
    labeled = {"x": T(leaf_fx["forward"]["x"]), "y": T(st_fx["y"]), "idx": torch.arange(6)}
    unlabeled = {"weak": T(st_fx["u"]), "weak2": T(st_fx["u2"]), "strong": T(st_fx["strong"])}
    loss, logs = method.train_step(labeled, unlabeled, 0)

    names = ("logits_u", "logits_u2", "logits_x", "logits_strong")
    for call, name in zip(rec.calls, names):
        close(call["logits"], st_fx[name])
    close(rec.calls[0]["feature"], st_fx["feature_u"])
    close(rec.calls[1]["feature"], st_fx["feature_u2"])
    l1, l2 = T(st_fx["logits_u"]), T(st_fx["logits_u2"])
    probs = (l1.softmax(1) + l2.softmax(1)) / 2
    mask, _, _ = pseudo.threshold_mask(probs, method.thresholds)
    assert mask.tolist() == st_fx["mask"]
    positive, size, sorted_p = pseudo.ambiguous_sets(((l1 + l2) / 2).softmax(1))
    close(pseudo.ambiguity_weight(sorted_p, size), st_fx["weight"])
    close(pseudo.positive_negative_loss(T(st_fx["logits_strong"]), positive), st_fx["loss_topk"])
    close(logs["loss_s"], st_fx["loss_x"])
    close(logs["loss_u"], st_fx["loss_u"])
    close(logs["loss_con"], st_fx["loss_s"])  # the release calls the SupCon term Ls
    close(logs["loss_con"], st_fx["supcon"])
    close(loss.item(), st_fx["loss"])

    optimizer_step(loss, st, torch.amp.GradScaler("cuda", enabled=False), cfg)
    compare_grads(net, st_fx["grads"])
    compare_state(net, st_fx["model_after"])  # includes the tied expert decayed once per state_dict slot
    compare_state(st.ema, st_fx["ema_after"])


def run_leaf(fx) -> tuple[FERNet, FERNet, list[dict]]:
    """ssfer's official LEAF over the run fixture's batches, step by step as the training loop
    calls it: the live network, the EMA network and each step's logs."""
    r = fx["run"]
    net = leaf_net(fx)
    cfg = official_config("leaf")
    assert cfg.lr == pytest.approx(r["lr"])  # the release's lr * batch / 16 at batch 16
    ctx = RunContext(num_classes=7, n_labeled=r["batch"], steps=r["steps"], steps_per_epoch=r["steps"],
                     forward_passes=cfg.forward_passes)
    method = Leaf(cfg.leaf, net, ctx, leaf_unlabeled_loss(cfg.leaf))
    method.thresholds.copy_(T(r["threshold"]))
    st = types.SimpleNamespace(method=method, ema=copy.deepcopy(net).eval(), step=0)
    st.opt = make_optimizer(cfg, method.named_parameters())
    st.sched = make_schedule(cfg, st.opt)
    method.train()
    torch.manual_seed(r["seed"])
    logs = []
    for k in range(r["steps"]):
        labeled = {"x": T(r["x"][k]), "y": T(r["y"][k]), "idx": torch.arange(r["batch"])}
        unlabeled = {"weak": T(r["u"][k]), "weak2": T(r["u2"][k]), "strong": T(r["strong"][k])}
        loss, log = method.train_step(labeled, unlabeled, k)
        optimizer_step(loss, st, torch.amp.GradScaler("cuda", enabled=False), cfg)
        st.step += 1
        logs.append({"loss": loss.item()} | {k: float(v) for k, v in log.items() if k.startswith("loss_")})
    return net, st.ema, logs


def max_state_diff(net: nn.Module, official: dict) -> float:
    mine = net.state_dict()
    return max((mine[k].float() - T(v)).abs().max().item() for k, v in release_entries(official))


def test_leaf_run_of_five_steps_at_batch_16_matches_release(leaf_fx):
    """Five iterations of the release's train(): the loss averages it reports, the live model and
    the EMA after them (the tied expert averaged and decayed 9 times a step, once per slot)."""
    r = leaf_fx["run"]
    assert r["steps"] >= 5 and r["batch"] >= 16
    net, ema, logs = run_leaf(leaf_fx)
    mean = lambda key: sum(log[key] for log in logs) / len(logs)  # noqa: E731  (the release's AverageMeter)
    close(mean("loss"), r["loss"])
    close(mean("loss_s"), r["loss_x"])
    close(mean("loss_u"), r["loss_u"])
    close(mean("loss_con"), r["loss_s"])
    compare_state(net, r["model_after"])
    compare_state(ema, r["ema_after"])


def test_leaf_run_fixture_tells_one_ema_update_a_tensor_from_nine(leaf_fx, monkeypatch):
    """The fixture can see the 9x update: an EMA (and hidden decay) that acts once per tensor, not
    once per state_dict slot, misses the release's EMA by at least 10x the tolerance."""
    from ssfer_core import train as train_module

    def once_per_tensor(ema, model, decay, live_decay):
        seen = set()
        for e, p in zip(ema.state_dict(keep_vars=True).values(), model.state_dict(keep_vars=True).values()):
            if e.dtype == torch.float32 and p.data_ptr() not in seen:
                seen.add(p.data_ptr())
                e.data.mul_(decay).add_(p.data * (1.0 - decay))
                p.data.mul_(1 - live_decay)

    monkeypatch.setattr(train_module, "official_ema_step", once_per_tensor)
    _, ema, _ = run_leaf(leaf_fx)
    assert max_state_diff(ema, leaf_fx["run"]["ema_after"]) >= 10 * TOL


def test_leaf_gates_are_inert_in_the_release_design(leaf_fx):
    """With the tied expert the output does not depend on the routing (other gate weights, other
    noise), nothing is decoupled (agnostic = relevant), and the gate weights get no gradient."""
    net = leaf_net(leaf_fx).train()
    net(T(leaf_fx["forward"]["x"]))["logits"].sum().backward()
    for block in (net.semantic, net.instance):  # softmax of one logit: exactly zero gradient
        assert block.w_gate.grad is None or not block.w_gate.grad.any()
    h = torch.randn(6, 16)
    for block in (net.semantic, net.instance):
        torch.manual_seed(2)
        r1 = block(h)
        with torch.no_grad():
            block.w_gate.normal_(0, 5.0)
        torch.manual_seed(3)
        r2 = block(h)
        assert not torch.equal(r1["gates"], r2["gates"])  # the routing changed ...
        close(r1["out"], r2["out"], 1e-6)  # ... the output did not
        close(r1["out"], r1["agnostic"], 0.0)


def test_leaf_thresholds_match_release(leaf_fx):
    """adaptive_threshold_generate: the EMA model's logits on the labeled set, a peaked case with a
    class that has no correct prediction (reset to 0.8), and a case at epoch 5 where the rule binds
    for every class (none at the 0.8 floor, so the epoch term and the 0.97 show in each)."""
    th = leaf_fx["thresholds"]
    binding = pseudo.thresholds_from_predictions(T(th["binding_logits"]), T(th["binding_labels"]), th["binding_epoch"])
    assert min(th["binding_thresholds"]) > 0.8 + 10 * TOL
    close(binding, th["binding_thresholds"])
    close(pseudo.thresholds_from_predictions(T(th["ema_logits"]), T(th["labels"]), th["epoch"]), th["thresholds"])
    got = pseudo.thresholds_from_predictions(T(th["peaked_logits"]), T(th["peaked_labels"]), th["peaked_epoch"])
    close(got, th["peaked_thresholds"])
    assert got[2] == 0.8 and got.max() > 0.85
    # the evaluation model's logits the release measured them with: ssfer's EMA after the same step
    ema = leaf_net(leaf_fx)
    load_weights(ema, leaf_fx["train_step"]["ema_after"])
    with torch.no_grad():
        close(ema.eval()(T(leaf_fx["forward"]["x"]))["logits"], th["ema_logits"])


def test_per_sample_masking_is_a_different_loss(leaf_fx):
    """The switch departs from the release: only the passed samples train."""
    st_fx = leaf_fx["train_step"]
    l1, l2, ls = T(st_fx["logits_u"]), T(st_fx["logits_u2"]), T(st_fx["logits_strong"])
    probs = (l1.softmax(1) + l2.softmax(1)) / 2
    mask = T(st_fx["mask"])
    g, _ = pseudo.category_level_loss(ls, probs, mask, set_probs=((l1 + l2) / 2).softmax(1))
    p, _ = pseudo.category_level_loss(ls, probs, mask, set_probs=((l1 + l2) / 2).softmax(1), masking="per_sample")
    close(g, st_fx["loss_u"])
    assert abs(g.item() - p.item()) > 1e-3


# ----------------------------------------------------------------------------- SIT-FER
@pytest.fixture(scope="module")
def sitfer_fx():
    return json.loads((FIXTURES / "official_sitfer.json").read_text())


def sitfer_method(fx, tmp_path) -> SitFer:
    cfg = official_config("sitfer")  # the registered official recipe ...
    assert cfg.net.text_dim == 0  # ... projects into the feature's own width: no projection, as the release
    net = FERNet(NetConfig(backbone="official_fixture_trunk_linear", dropout=0.5, l2_normalize=True, semantic_moe="off",
                           instance_moe=False, logit_scale=1.0, text_dim=cfg.net.text_dim), 7)
    load_weights(net, fx["weights"])
    assert cfg.net.logit_scale == 1.0 and cfg.net.dropout == 0.5 and cfg.net.l2_normalize
    settings = dataclasses.replace(cfg.sitfer, instance_warmup=0.5)  # ... with the fixture's 2-step warm-up
    ctx = RunContext(num_classes=7, n_labeled=2 * len(fx["steps"][0]["y"]), steps=2, steps_per_epoch=1,
                     forward_passes=cfg.forward_passes,
                     cache_dir=str(tmp_path), seed=fx["text_seed"])
    method = SitFer(settings, net, ctx, HardLabelLoss(settings.mask_mean))
    assert isinstance(method.text_proj, nn.Identity)  # the release has no projection
    # the text vectors: ssfer's own `release` encoder, rebuilt from the seed the release's was drawn from
    close(method.text, fx["text"], 1e-5)
    return method


def test_sitfer_fixture_names_the_release(sitfer_fx):
    src = sitfer_fx["source"]
    assert src["repository"] == "PatrickStarL/SIT-FER" and src["commit"].startswith("2aa046c")


def test_sitfer_training_and_prediction_match_release(sitfer_fx, tmp_path):
    """Two iterations of the release's train() (epoch 1: semantic + text fusion 0.6 / 0.4; epoch 16:
    0.3 / 0.2 / 0.5 with the instance level, several samples selected and class cosines below 0
    floored), then validate()'s fused test predictor."""
    method = sitfer_method(sitfer_fx, tmp_path)
    net = method.model
    cfg = official_config("sitfer")
    assert cfg.lr == sitfer_fx["lr"] and cfg.ema == 0
    st = types.SimpleNamespace(method=method, ema=None, step=0)
    st.opt = make_optimizer(cfg, method.named_parameters())
    st.sched = make_schedule(cfg, st.opt)
    rec = Recorder(net)
    method.train()
    passed = 0
    for k, s in enumerate(sitfer_fx["steps"]):
        rec.calls.clear()
        torch.manual_seed(sitfer_fx["seed"] + k)
        labeled = {"x": T(s["x"]), "y": T(s["y"]), "idx": T(s["idx"])}
        loss, logs = method.train_step(labeled, {"weak": T(s["u"]), "strong": T(s["strong"])}, k)
        for call, name in zip(rec.calls, ("logits_u", "logits_strong", "logits_x")):
            close(call["logits"], s[name])
        close(rec.calls[0]["feature"], s["feature_u"])
        # the three levels and their fusion
        lu, fu = T(s["logits_u"]), T(s["feature_u"])
        text = fu @ T(sitfer_fx["text"]).T
        close(method.text_scores(fu), text)
        z = T(s["fused_scores"])
        p_hat, mask = logs["pseudo"]["pl_"]
        close(p_hat, z.softmax(1))
        assert mask.bool().tolist() == (z.softmax(1).max(1).values > 0.75).tolist()
        passed += int(mask.sum())
        if s["epoch"] > 15:
            ins_release = (z - 0.3 * lu - 0.2 * text) / 0.5
            close(method.memory.class_scores(fu), ins_release)
            assert int(mask.sum()) >= 3, "several samples selected after the warm-up"
            filled, labels = method.memory.filled, method.memory.labels
            cos = fu @ method.memory.features[filled].T
            best = torch.stack([cos[:, labels[filled] == c].max(1).values for c in labels[filled].unique()], 1)
            assert (best < -0.1).any(), "some classes' best cosine is negative ..."
            assert (ins_release >= -TOL).all() and (ins_release.abs() <= TOL).any(), "... and scores 0 (floored)"
        else:
            close(z, 0.6 * lu + 0.4 * text)
        close(logs["loss_s"], s["loss_s"])
        close(logs["loss_t"], s["loss_t"])
        close(logs["loss_u"], s["loss_u"])
        close(loss.item(), s["loss"])
        filled = method.memory.filled
        close(method.memory.features[filled], T(s["bank"])[filled])
        assert method.memory.labels[filled].tolist() == T(s["bank_labels"])[filled].long().tolist()
        optimizer_step(loss, st, torch.amp.GradScaler("cuda", enabled=False), cfg)
        compare_grads(net, s["grads"])
        compare_state(net, s["model_after"])
    assert passed > 0  # the fixture exercises the mask
    with torch.no_grad():
        close(method.predict(net.eval(), T(sitfer_fx["predict"]["x"])), sitfer_fx["predict"]["probs"])


def test_release_text_encoder_rebuilds_the_releases_class_matrix_from_its_seed():
    """ssfer's ``release`` encoder, from nothing but the seed, gives the class text matrix the released
    code builds (tests/fixtures/record_official.py --only sitfer_text: the release's TextEncoder made
    right after torch.manual_seed(seed), its tokenize, eval mode), and leaves the global generator alone.
    Nothing of the fixture is copied into ssfer before the comparison."""
    from ssfer_core.models import text

    fixture = json.loads((Path(__file__).parent / "fixtures" / "official_sitfer_text.json").read_text())["text"]
    for seed, rec in fixture.items():
        prompts = [text.RELEASE_PROMPT.format(w) for w in text.RELEASE_VOCAB]
        assert text.official_tokenize(prompts).tolist() == rec["tokens"], "only the class word survives the tokenizer"
        state = torch.random.get_rng_state()
        ours = text.text_embeddings("official", prompts, cache_dir=None, seed=int(seed))
        assert torch.equal(torch.random.get_rng_state(), state)
        theirs = torch.tensor(rec["matrix"])
        assert (ours - theirs).abs().max() < 1e-5
        cos = ours @ ours.T
        off = cos[~torch.eye(7, dtype=torch.bool)]
        assert off.min() > 0.6, "the release's class vectors sit close together (they share 76 of 77 tokens)"
        assert (cos - torch.tensor(rec["cosines"])).abs().max() < 1e-5
    other = text.text_embeddings("official", prompts, cache_dir=None, seed=1)
    assert (other - theirs).abs().max() > 0.1, "another seed, another untrained encoder"


def test_official_sitfer_uses_the_release_text_encoder():
    cfg = compose_config({"method": "sitfer", "protocol": "official"}, None, [], {})
    assert cfg.sitfer.text_encoder == "official" and cfg.net.text_dim == 0  # as wide as the feature, as the release
    assert cfg.sitfer.strict_threshold, "the release selects with > 0.75 (main.py:272)"
    assert not compose_config({"method": "sitfer"}, None, [], {}).sitfer.strict_threshold  # the shared protocol: >=
