"""The releases' clocks: SIT-FER official's pass bound (no face can pass the release's fusion while
the head's gap is under the computed value)."""
import pytest
import torch
import torch.nn.functional as F

from ssfer_core import pseudo
from ssfer_core.memory import InstanceMemory
from ssfer_study.stages import clock

C, D = 7, 32
BEFORE, AFTER = (0.6, 0.4), (0.3, 0.2, 0.5)  # the release's fusion weights, before and after the instance level


def fused_max(weight, bias, text, weights, q, memory=None):
    sem, cos = q @ weight.T + bias, q @ text.T
    ins = memory.class_scores(q) if memory is not None else None
    return pseudo.fuse_official(sem, cos, ins, weights).max(1).values


def faces(weight, bias, text, n=4000):
    """Random unit features and, for each class, the feature that pushes it hardest (the direction of
    its head gap plus its text gap, and of each single part)."""
    g = torch.Generator().manual_seed(0)
    q = [F.normalize(torch.randn(n, D, generator=g), dim=1)]
    for k in range(C):
        others = [j for j in range(C) if j != k]
        dw = weight[k] - weight[others].mean(0)
        dt = text[k] - text[others].mean(0)
        q.append(F.normalize(torch.stack([dw, dt, 0.6 * dw + 0.4 * dt, 0.3 * dw + 0.2 * dt]), dim=1))
    return torch.cat(q)


def test_no_face_passes_while_the_head_gap_is_under_the_bound_and_some_do_above_it():
    g = torch.Generator().manual_seed(1)
    text = F.normalize(torch.randn(C, D, generator=g), dim=1)
    weight, bias = torch.randn(C, D, generator=g), 0.1 * torch.randn(C, generator=g)
    memory = InstanceMemory(50, D, C)
    bank = faces(weight, bias, text)[-C * 4:]  # the bank holds the strongest faces: instance scores near 1
    memory.write_labeled(torch.arange(C * 4), bank, torch.arange(C).repeat_interleave(4))
    for weights, mem in ((BEFORE, None), (AFTER, memory)):
        need = clock.required_head_gap(text, weights, 0.75)
        scale = 0.99 * float((need / clock.head_gaps(weight, bias)).min())  # every class just under its need
        w, b = weight * scale, bias * scale
        assert not clock.can_pass(w, b, text, weights, 0.75)
        q = faces(w, b, text)
        assert fused_max(w, b, text, weights, q, mem).max() <= 0.75
        big = 3.0 * float((need / clock.head_gaps(weight, bias)).max())  # far above: the bound is not vacuous
        assert clock.can_pass(weight * big, bias * big, text, weights, 0.75)
        assert fused_max(weight * big, bias * big, text, weights, faces(weight * big, bias * big, text), mem).max() > 0.75


def test_the_release_needs_a_head_gap_of_several_units_at_its_threshold():
    """At tau = 0.75 and C = 7 a face needs a fused margin of ln 18 = 2.89 over the others' mean:
    with the text level's margin at most 0.4 x 2 the head alone must bring more than 3.5."""
    text = F.normalize(torch.randn(C, D, generator=torch.Generator().manual_seed(2)), dim=1)
    need = clock.required_head_gap(text, BEFORE, 0.75)
    assert torch.all(need > (torch.log(torch.tensor(18.0)) - 0.4 * 2) / 0.6)
    assert torch.all(clock.required_head_gap(text, AFTER, 0.75) > need)  # the instance level's weight takes the head's


def test_one_sgd_step_moves_the_scaled_head_by_lr_times_scale_squared():
    """Why SIT-FER's start depends on lr x net.logit_scale^2 (docs/validation.md): on a linear head
    over the unit feature whose logits are multiplied by s, one plain SGD step on the cross-entropy
    moves the logits of that same feature by -lr s^2 (|q|^2 + 1) (p - y) (weights and bias)."""
    from ssfer_core.models.config import NetConfig
    from ssfer_core.models.network import FERNet

    torch.manual_seed(0)
    net = FERNet(NetConfig(backbone="synth_cnn_tiny", l2_normalize=True, logit_scale=16.0, dropout=0.0), C)
    net.eval()
    x, y, lr = torch.rand(1, 3, 32, 32), torch.tensor([3]), 0.01
    out = net(x)
    q, before = out["feature"].detach(), out["logits"].detach()
    F.cross_entropy(out["logits"], y).backward()
    with torch.no_grad():  # a step on the head alone: the feature stays where it was
        for p in net.classifier.parameters():
            p -= lr * p.grad
    after = net.classifier(q) * 16.0
    p_minus_y = before.softmax(1) - F.one_hot(y, C)
    expected = before - lr * 16.0 ** 2 * (q.norm() ** 2 + 1) * p_minus_y
    assert torch.allclose(after, expected, atol=1e-4)


# ----------------------------------------------------------------------------- the releases' clocks
import dataclasses  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def official_profile():
    from ssfer_study.study import load_study

    return load_study(ROOT / "studies" / "official" / "params.yaml")


def test_the_official_profile_trains_each_release_on_its_own_clock():
    """Steps and epochs as the releases' parsers have them (recorded from the released code); the
    SIT-FER instance level after epoch 15 of them (the literal ``epoch > 15`` of its train())."""
    study = official_profile()
    for method, fixture in (("leaf", "official_leaf_clock.json"), ("sitfer", "official_sitfer_clock.json")):
        clock = json.loads((FIXTURES / fixture).read_text())["release_clock"]
        runs = [r for r in study.runs.values() if r.group == "official" and r.method == method]
        assert len({r.seed for r in runs}) >= 3
        for r in runs:
            cfg = study.config(r.name)
            assert cfg.protocol == "official"
            assert cfg.steps_per_epoch == clock["iterations_per_epoch"]
            assert cfg.steps == clock["epochs"] * clock["iterations_per_epoch"]
            if method == "sitfer":
                assert cfg.sitfer.instance_warmup * cfg.steps == 15 * clock["iterations_per_epoch"]


def test_each_official_run_is_paired_with_its_labeled_part_alone():
    """The like-for-like baseline: the same run (recipe, clock, views, network, seed) with the
    unlabeled loss weighted 0, named by a claim of the profile and paired on the seed."""
    study = official_profile()
    pairs = {c.better: c.than for c in study.claims}
    for better in ("sitfer_official", "leaf_official"):
        than = pairs[better]
        for seed in range(3):
            a = dataclasses.asdict(study.config(f"{better}_s{seed}"))
            b = dataclasses.asdict(study.config(f"{than}_s{seed}"))
            differ = {k for k in a if a[k] != b[k]}
            assert differ == {a["method"]}, differ
            inner = {k for k in a[a["method"]] if a[a["method"]][k] != b[a["method"]][k]}
            if a["method"] == "sitfer":
                assert inner == {"loss_weights"} and b["sitfer"]["loss_weights"][2] == 0.0
            else:
                assert inner == {"unlabeled_weight", "contrastive_weight"}
                assert b["leaf"]["unlabeled_weight"] == b["leaf"]["contrastive_weight"] == 0.0


def test_official_leaf_refreshes_its_thresholds_on_the_release_clock(tiny_cfg, tmp_path, monkeypatch):
    """Two of the release's epochs of LEAF official, as the official profile runs it: the loop
    refreshes the class thresholds after each 1,600-step epoch with that epoch's number, and given
    the release's EMA logits at each refresh (recorded from its main() loop) the thresholds in force
    at every step match the release's. A refresh on another clock (every 100 steps, the shared
    protocol's) refreshes at other steps and fails."""
    import ssfer_core.train as loop

    fx = json.loads((FIXTURES / "official_leaf_clock.json").read_text())
    official = official_profile().config("leaf_official_s0")
    cfg = dataclasses.replace(official, data=tiny_cfg.data, net=dataclasses.replace(
        official.net, backbone=tiny_cfg.net.backbone, weights=None), batch_size=4, mu=1, threads=1,
        steps=fx["epochs"] * fx["iterations_per_epoch"], eval_every=10**6, ckpt_every=10**6, log_every=10**6)
    from ssfer_core.methods.leaf import Leaf

    refreshes, in_force, after = [], [], []

    def release_logits(method, model, data, cfg, device, epoch):
        r = fx["refreshes"][len(refreshes)]  # a refresh the release does not make has no logits: IndexError
        refreshes.append(epoch)
        return torch.tensor(r["logits"]), torch.tensor(r["labels"])

    def cheap_step(method, labeled, unlabeled, step, balance_coef):  # the loop's clock, not the network's steps
        in_force.append(method.thresholds.tolist())
        return sum(p.sum() for p in method.parameters()) * 0.0, {}

    end_epoch = Leaf.end_epoch

    def refreshed(self, logits, labels, epoch):
        end_epoch(self, logits, labels, epoch)
        after.append(self.thresholds.tolist())

    monkeypatch.setattr(loop, "labeled_logits", release_logits)
    monkeypatch.setattr(loop, "step_loss", cheap_step)
    monkeypatch.setattr(loop, "make_batch", lambda *a, **k: ({}, {}, None))  # no views to draw for the clock
    monkeypatch.setattr(loop, "optimizer_step", lambda *a, **k: None)  # nor weights to move
    monkeypatch.setattr(Leaf, "end_epoch", refreshed)
    loop.train(cfg, tmp_path / "run", progress=False)
    assert refreshes == [r["epoch"] for r in fx["refreshes"]]
    for ours, theirs in zip(after, fx["refreshes"]):
        assert ours == pytest.approx(theirs["thresholds"], abs=1e-6)
    # the thresholds in force at each step: the release's, changing where the release's change
    changes = [[i, t] for i, t in enumerate(in_force) if i == 0 or t != in_force[i - 1]]
    assert [i for i, _ in changes] == [i for i, _ in fx["threshold_changes"]]
    for (_, ours), (_, theirs) in zip(changes, fx["threshold_changes"]):
        assert ours == pytest.approx(theirs, abs=1e-6)
