"""The training loop: a run ends with metrics; a killed run resumes exactly; DDP matches one process."""
import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from ssfer_study.cli import main as cli_main
from ssfer_core.train import train


def test_train_writes_metrics_and_atomic_checkpoint(tiny_cfg, tmp_path):
    tiny_cfg.method = "fixmatch"
    m = train(tiny_cfg, tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["raw"]["last"]["acc"] == m["raw"]["last"]["acc"]
    for which in ("raw", "ema"):
        last = saved[which]["last"]
        assert 0 <= last["acc"] <= 1 and 0 <= last["ece"] <= 1
        assert len(last["confusion"]) == 7 and sum(map(sum, last["confusion"])) == 140
    assert [c["step"] for c in saved["curve"]] == [6, 12]
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    assert not list((tmp_path / "run").glob("*.tmp"))
    assert (tmp_path / "run" / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").exists()


@pytest.mark.parametrize("method", ["fixmatch", "sitfer", "leaf"])
def test_killed_run_resumes_to_the_same_result(tiny_cfg, tmp_path, method):
    tiny_cfg.method = method
    tiny_cfg.sitfer.instance_warmup = 0.3
    full = train(tiny_cfg, tmp_path / "full", progress=False)
    train(tiny_cfg, tmp_path / "killed", progress=False, stop_after=7)  # dies after step 7
    assert not (tmp_path / "killed" / "metrics.json").exists()
    resumed = train(tiny_cfg, tmp_path / "killed", progress=False)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    for k, v in a["method"].items():
        assert torch.equal(v, b["method"][k]), k
    assert full["raw"]["last"] == resumed["raw"]["last"] and full["ema"]["last"] == resumed["ema"]["last"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, cfg, out, device="cpu"):
    """One torchrun-like rank (gloo on CPU, NCCL on CUDA); tests/test_cuda.py uses it too."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    train(cfg, out, device=device, progress=False)


def test_ddp_two_gloo_processes_match_one_process(tiny_cfg, tmp_path):
    # GroupNorm: every sample is independent of its batch, so the averaged gradient is exact.
    tiny_cfg.method = "fixmatch"
    tiny_cfg.net.norm = "gn"
    tiny_cfg.fixmatch.threshold = 0.0  # every unlabeled sample contributes to L_u
    tiny_cfg.steps, tiny_cfg.eval_every = 4, 4
    single = train(tiny_cfg, tmp_path / "single", progress=False)
    mp.spawn(_ddp_worker, args=(2, _free_port(), tiny_cfg, tmp_path / "ddp"), nprocs=2, join=True)
    a = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=False)["method"]
    b = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=False)["method"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=2e-5, rtol=1e-4), k
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert abs(ddp["raw"]["last"]["acc"] - single["raw"]["last"]["acc"]) < 0.02


def test_cli_train_and_eval(tiny_cfg, tmp_path, capsys):
    import yaml

    from ssfer_core.config import to_dict

    cfg_file = tmp_path / "p.yaml"
    cfg_file.write_text(yaml.safe_dump({"profile": "t", "train": to_dict(tiny_cfg),
                                        "runs": {"sup": {"group": "main", "method": "supervised"}}}))
    assert cli_main(["train", "--profile", str(cfg_file), "--run", "sup", "-S", "steps=4",
                     "-S", "eval_every=2", "--out", str(tmp_path / "r")]) == 0
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["steps"] == 4 and saved["method"] == "supervised"
    # the recorded config is the resolved one: the checkpoint trained with the same network settings
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)
    assert saved["net"] == ckpt["config"]["net"] and saved["net"]["dropout"] is not None
    assert cli_main(["eval", "--run", str(tmp_path / "r")]) == 0
    assert "ema  last acc" in capsys.readouterr().out


def test_ssl_method_with_no_unlabeled_images_fails_clearly(tiny_cfg, tmp_path):
    tiny_cfg.method = "fixmatch"
    tiny_cfg.data.split_protocol = "fraction"
    tiny_cfg.data.label_fraction = 1.0
    with pytest.raises(ValueError, match="needs unlabeled images but the split labels all of them"):
        train(tiny_cfg, tmp_path / "r", progress=False)


def test_channels_last_computes_the_same_step(tiny_cfg, tmp_path):
    """Same loss and gradients on one batch (up to float rounding of other conv kernels); a run
    with the switch trains in channels-last format."""
    from ssfer_core.data.loading import load_data
    from ssfer_core.build import build_method
    from ssfer_core.train import make_batch

    tiny_cfg.method = "fixmatch"
    data = load_data(tiny_cfg.data)
    grads, losses = [], []
    for cl in (False, True):
        tiny_cfg.channels_last = cl
        torch.manual_seed(0)
        m = build_method(tiny_cfg, 7, len(data.labeled_idx))
        if cl:
            m.to(memory_format=torch.channels_last)
        lab, unl, _ = make_batch(data, torch.arange(14), torch.arange(28), ("weak", "strong"),
                                 torch.Generator().manual_seed(0), tiny_cfg, "cpu", slice(None), slice(None))
        loss, _ = m.train_step(lab, unl, 0)
        loss.backward()
        losses.append(loss.item())
        grads.append({k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None})
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    for k in grads[0]:  # other conv kernels sum in another order: compare each gradient as a whole
        err = (grads[0][k] - grads[1][k]).norm() / grads[0][k].norm().clamp_min(1e-12)
        assert err < 1e-2, (k, err.item())
    train(tiny_cfg, tmp_path / "cl", progress=False)
    sd = torch.load(tmp_path / "cl" / "checkpoint.pt", weights_only=False)["method"]
    w = sd["model.backbone.stem.0.weight"]
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()


def test_resume_after_a_kill_between_log_and_checkpoint_keeps_logs_clean(tiny_cfg, tmp_path, monkeypatch):
    """Killed after step 12's log row is written but before its checkpoint: the resumed run (from
    step 6) cuts the rows past 6 and logs 9 and 12 again, once each; rows are labelled by step."""
    import csv

    import ssfer_core.train as tr

    tiny_cfg.method = "fixmatch"
    real_save = tr.torch_save

    def dying_save(obj, path):
        if obj["step"] == 12:
            raise RuntimeError("killed")
        real_save(obj, path)

    monkeypatch.setattr(tr, "torch_save", dying_save)
    with pytest.raises(RuntimeError, match="killed"):
        train(tiny_cfg, tmp_path / "r", progress=False)
    tsv = tmp_path / "r" / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv"
    assert [r["step"] for r in csv.DictReader(tsv.open(), delimiter="\t")] == ["3", "6", "9", "12"]
    monkeypatch.setattr(tr, "torch_save", real_save)
    train(tiny_cfg, tmp_path / "r", progress=False)
    assert [r["step"] for r in csv.DictReader(tsv.open(), delimiter="\t")] == ["3", "6", "9", "12"]


def test_step_logger_averages_each_key_over_the_steps_that_emitted_it():
    """pl_pass_acc exists only on steps where a pseudo-label passed: 2 of 4 steps here."""
    from ssfer_core.live_log import StepLogger

    logger = StepLogger(None, None)
    for acc in (None, 0.5, None, 1.0):
        logger.add({"loss": 1.0} | ({} if acc is None else {"pl_pass_acc": acc}))
    means = logger.means()
    assert means["pl_pass_acc"] == pytest.approx(0.75)  # not (0.5 + 1.0) / 4
    assert means["loss"] == pytest.approx(1.0)


def test_official_leaf_refreshes_thresholds_from_the_ema_model_each_epoch(tiny_cfg, tmp_path, monkeypatch):
    """The release's rule: once per epoch, the evaluation (EMA) model's logits over the whole
    labeled set; the resumed run is exact with it."""
    from ssfer_core.methods.leaf import Leaf

    calls = []
    real = Leaf.end_epoch
    monkeypatch.setattr(Leaf, "end_epoch", lambda self, logits, labels, epoch: (
        calls.append((logits.shape, labels.shape, epoch, self.model.training)), real(self, logits, labels, epoch))[1])
    tiny_cfg.method, tiny_cfg.protocol, tiny_cfg.steps_per_epoch = "leaf", "official", 4
    from ssfer_core.config import compose_config, to_dict
    cfg = compose_config(to_dict(tiny_cfg))
    assert cfg.optimizer == "adam" and cfg.ema_state == "state_dict" and cfg.forward_passes == "per_view"
    assert cfg.augment == "official"  # the release's views, drawn from the run's generator: the resume stays exact
    full = train(cfg, tmp_path / "full", progress=False)
    n_labeled = 7 * tiny_cfg.data.labels_per_class
    assert [c[2] for c in calls] == [1, 2, 3]
    assert all(c[0] == (n_labeled, 7) and c[1] == (n_labeled,) for c in calls)
    assert all(c[3] for c in calls)  # back in train mode when the step continues
    train(cfg, tmp_path / "killed", progress=False, stop_after=6)
    resumed = train(cfg, tmp_path / "killed", progress=False)
    assert full["ema"]["last"] == resumed["ema"]["last"]


def test_release_ema_step_decays_a_tied_module_once_per_slot():
    """WeightEMA walks the state_dict: the tied expert sits in num_experts + 1 slots."""
    import copy

    from ssfer_core.models.leaf_blocks import MixtureOfExperts
    from ssfer_core.optim import official_ema_step

    live = MixtureOfExperts(4, 4, num_experts=3, experts="tied_residual")
    ema = copy.deepcopy(live)
    w0 = live.expert.fc[0].weight.detach().clone()
    g0 = live.w_gate.detach().clone()
    official_ema_step(ema, live, 0.9, 0.1)
    assert torch.allclose(live.expert.fc[0].weight, w0 * 0.9 ** 4)  # 1 + 3 slots
    assert torch.allclose(live.w_gate, g0 * 0.9)  # an untied entry: once


def test_sitfer_ema_predictor_uses_the_evaluated_models_memory(tiny_cfg):
    """Every part of the fused predictor comes from the model evaluated: the EMA copy gets a memory
    of its own features of the labeled images and its own text projection."""
    import copy

    from ssfer_core.build import build_method

    tiny_cfg.method = "sitfer"
    method = build_method(tiny_cfg, 7, 12)
    method.memory.write_labeled(torch.arange(12), torch.nn.functional.normalize(torch.randn(12, 64), dim=1),
                                torch.arange(12) % 7)
    ema = copy.deepcopy(method.model).eval()
    assert ema.text_proj is not method.model.text_proj  # the projection travels with the network
    images, labels = torch.randn(12, 3, 32, 32), torch.arange(12) % 7
    method.prepare_predict(ema, images, labels)
    with torch.no_grad():
        own = ema(images)["feature"]
    mem = method._eval["memory"]
    assert torch.allclose(mem.features[:12], own) and mem.labels[:12].tolist() == labels.tolist()
    method.prepare_predict(method.model, images, labels)  # the live model keeps its training memory
    assert "memory" not in method._eval


@pytest.mark.parametrize("method", ["supervised", "fixmatch", "leaf"])
def test_the_trainer_adds_the_networks_auxiliary_loss_for_every_method(tiny_cfg, method):
    """A method's ``train_step`` returns its own terms; ``step_loss`` adds ``net.balance_coef`` times
    the experts' load-balancing term of every forward of the step (none on a plain head), once."""
    import copy

    import torch

    from ssfer_core.build import build_method
    from ssfer_core.config import apply_overrides
    from ssfer_core.data.loading import load_data
    from ssfer_core.train import TrainState, make_batch, step_loss

    experts = ["net.semantic_moe=pooled", "net.instance_moe=true", "net.l2_normalize=true", "net.dropout=0.0",
               "net.experts=residual", "net.balance_coef=0.5"]
    plain_cfg = apply_overrides(copy.deepcopy(tiny_cfg), ["method=supervised"])
    cfg = apply_overrides(tiny_cfg, [f"method={method}", "forward_passes=per_view", *experts])
    data = load_data(cfg.data, progress=False)
    torch.manual_seed(0)
    m = build_method(cfg, data.num_classes, len(data.labeled_idx))
    st = TrainState(cfg, m, data)
    views = tuple(m.unlabeled_views)
    lab, unl, _ = make_batch(data, st.lab.next(), st.unl.next() if views else None, views, st.g_aug, cfg, "cpu",
                             slice(None), slice(None))
    rng = torch.get_rng_state()
    own, _ = m.train_step(lab, unl, 0)
    aux = m.pop_aux_loss()
    assert aux is not None and aux.item() > 0 and m.pop_aux_loss() is None  # popped: a step adds it once
    torch.set_rng_state(rng)  # the same draws (gate noise, dropout) for the second forward
    total, logs = step_loss(m, lab, unl, 0, 0.5)
    assert total.item() == pytest.approx(own.item() + 0.5 * aux.item(), rel=1e-5)
    assert logs["balance"] == pytest.approx(aux.item(), rel=1e-5)
    plain = build_method(plain_cfg, data.num_classes, len(data.labeled_idx))
    loss, logs = step_loss(plain, lab, {}, 0, 0.5)
    assert "balance" not in logs and plain.pop_aux_loss() is None
