"""Record the released LEAF and SIT-FER code's numbers once, as test fixtures (numbers only).

The released code is never part of this project. Get it at the pinned commits, outside the project:

    git clone https://github.com/zfkarl/LEAF /tmp/official/leaf && git -C /tmp/official/leaf checkout 7873d3a
    git clone https://github.com/PatrickStarL/SIT-FER /tmp/official/sitfer && git -C /tmp/official/sitfer checkout 2aa046c
    cp -r /tmp/official/sitfer/utils /tmp/official/leaf/Code_LEAF/   # the LEAF release does not ship Ada-CM's utils/
    pip install progress opencv-python-headless                      # its imports (in a scratch venv)
    python scripts/record_official_fixtures.py --leaf /tmp/official/leaf/Code_LEAF --sitfer /tmp/official/sitfer
    # one fixture only: add --only sitfer_text (or leaf, sitfer)

This drives the released modules themselves: their network classes' ``forward``, ``Instance_MoE``
with its ``SparseDispatcher``, ``ResExpert``, ``SupConLoss``, and the training loops ``train()``
(one or two iterations), ``validate()``, ``mask_generate``, ``topk_ce_FPL``,
``adaptive_threshold_generate``, ``WeightEMA`` and SIT-FER's ``TextEncoder`` / ``tokenize``, on a
tiny network (a conv + BN + ReLU trunk with 16 channels in place of the MS-Celeb ResNet-18, whose
checkpoint is not public here; every block after the trunk is the release's, at width 16) and tiny
generated images. Only ``.cuda()`` is made a no-op (this machine has no GPU). The values the loops
keep internal are read through forward hooks and by wrapping ``F.softmax`` / ``accuracy`` (the
fused SIT-FER scores), never by retyping the loops. Output: tests/fixtures/official_leaf.json and
tests/fixtures/official_sitfer.json.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import sys
import types
from pathlib import Path

import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
TEXT_SEED = 3
"""The seed the step fixture's text encoder is drawn from (ssfer's run seed rebuilds it)."""
TEXT_SEEDS = (5, 0)
"""Seeds of the SIT-FER text fixture: the release's default ``--manualSeed`` and ssfer's seed 0."""
D, C, B, HW = 16, 7, 6, 5  # feature width, classes, batch, image side
SITFER_BATCH, SITFER_SCALE = 12, 60.0
"""SIT-FER's step fixture: its batch (two steps fill a bank of 24 labeled samples) and the classifier's
scale, confident enough that several fused labels pass 0.75 after the instance warm-up."""
LEAF_STEPS, LEAF_BATCH = 10, 16
"""The LEAF run fixture: iterations of the release's train() and their batch, enough for the EMA's
9 updates a step of the tied expert to part from one update a tensor by well over the tolerance."""


def no_cuda() -> None:
    torch.Tensor.cuda = lambda self, *a, **k: self
    nn.Module.cuda = lambda self, *a, **k: self


def load_release(folder: Path, argv: list[str]):
    """Import the release's main.py as a module (it parses sys.argv at import)."""
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    for name in [m for m in sys.modules if m in ("main", "utils", "losses") or m.startswith(("models", "dataset", "utils."))]:
        del sys.modules[name]
    sys.argv = ["main.py", *argv]
    return importlib.import_module("main")


def trunk(relu: bool = True) -> nn.Module:
    """The tiny trunk; without its ReLU (SIT-FER's fixture) the features take both signs, so that
    some cosines to the bank are negative and the instance level's floor at 0 acts."""
    return nn.Sequential(nn.Conv2d(3, D, 3, padding=1, bias=False), nn.BatchNorm2d(D), *([nn.ReLU()] if relu else []))


def build(cls, **parts) -> nn.Module:
    """An instance of the release's network class with our tiny trunk (its __init__ loads the
    MS-Celeb checkpoint and fixes width 512); ``forward`` is the release's."""
    m = cls.__new__(cls)
    nn.Module.__init__(m)
    for k, v in parts.items():
        setattr(m, k, v)
    return m


def tensors(sd: dict) -> dict:
    return {k: v.detach().tolist() for k, v in sd.items() if v.is_floating_point()}


def lists(**kw) -> dict:
    return {k: (v.detach().tolist() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}


class Capture:
    """Forward hook keeping (logits, feature) of every call."""

    def __init__(self, module: nn.Module):
        self.calls = []
        module.register_forward_hook(lambda m, i, o: self.calls.append((o[0].detach().clone(), o[1].detach().clone())))


def record_leaf(folder: Path) -> dict:
    main = load_release(folder, ["--train_iteration", "1"])
    backbone = importlib.import_module("models.backbone")
    torch.manual_seed(0)
    moe = lambda: backbone.Instance_MoE(input_size=D, output_size=D, num_experts=8, noisy_gating=True, k=1)  # noqa: E731
    model = build(backbone.ResNet_18, base=trunk(), output=nn.Sequential(nn.Dropout(0.5), backbone.Flatten()),
                  semantic_moe=moe(), instance_moe=moe(), classifier=nn.Linear(D, C))
    with torch.no_grad():  # non-zero gates (the release starts them at 0) and a peaked head, so that
        for m in (model.semantic_moe, model.instance_moe):  # routing varies and the sets have 1-3 classes
            m.w_gate.normal_(0, 1.0)
            m.w_noise.normal_(0, 0.3)
        model.classifier.weight.mul_(12.0)
    x, u, u2, s = (torch.rand(B, 3, HW, HW) for _ in range(4))
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    weights = tensors({k: v for k, v in model.state_dict().items() if ".experts." not in k})
    initial = copy.deepcopy(model)  # the run fixture (4.) starts from these weights too
    ema_model = copy.deepcopy(model)
    for p in ema_model.parameters():
        p.detach_()

    # 1. eval-mode forward: both MoE blocks, feature, logits
    model.eval()
    blocks = {}
    for name in ("semantic", "instance"):  # a hook that returns something replaces the output: return None
        getattr(model, f"{name}_moe").register_forward_hook(
            lambda m, i, o, name=name: None if name in blocks else blocks.update({name: o[0].detach().clone()}))
    with torch.no_grad():
        logits_eval, feature_eval = model(x)
    forward = lists(x=x, semantic_out=blocks["semantic"], feature=feature_eval, instance_out=blocks["instance"],
                    logits=logits_eval)

    # 2. one iteration of the release's train(): separate forwards u, u2, x, strong in train mode
    cap = Capture(model)
    with torch.no_grad():
        p0 = (model(u)[0].softmax(1) + model(u2)[0].softmax(1)) / 2  # eval mode: only to pick thresholds
    cap.calls.clear()
    conf = p0.max(1).values.sort().values
    threshold = [float(conf[B // 2])] * C  # about half the batch passes
    criterion = nn.CrossEntropyLoss(reduction="none")
    optimizer = torch.optim.Adam(model.parameters(), lr=main.args.lr * main.args.batch_size / 16)
    ema_opt = main.WeightEMA(model, ema_model, alpha=main.args.ema_decay)
    seed = 1234
    torch.manual_seed(seed)
    loss, loss_x, loss_u, loss_s = main.train([(x, y)], [((u, u2, s), y)], model, optimizer, ema_opt, criterion,
                                              main.SupConLoss(), list(threshold), 1, True)
    (lu, fu), (lu2, fu2), (lx, _), (ls, _) = cap.calls
    p = (lu.softmax(1) + lu2.softmax(1)) / 2
    max_probs, max_idx = p.max(1)
    mask = main.mask_generate(C, max_probs, max_idx, B, threshold)
    loss_topk, weight = main.topk_ce_FPL(ls, (lu + lu2) / 2)
    rejected = torch.where(mask == 0)[0]
    supcon = main.SupConLoss()(torch.stack([fu[rejected], fu2[rejected]], 1))
    step = lists(u=u, u2=u2, strong=s, y=y, seed=seed, threshold=threshold, logits_u=lu, logits_u2=lu2,
                 logits_x=lx, logits_strong=ls, feature_u=fu, feature_u2=fu2, mask=mask, loss_topk=loss_topk,
                 weight=weight, supcon=supcon, loss=loss, loss_x=loss_x, loss_u=loss_u, loss_s=loss_s,
                 lr=optimizer.param_groups[0]["lr"], ema_decay=main.args.ema_decay, live_decay=ema_opt.wd)
    step["grads"] = {k: v.grad.tolist() for k, v in model.named_parameters() if v.grad is not None}
    step["model_after"] = tensors({k: v for k, v in model.state_dict().items() if ".experts." not in k})
    step["ema_after"] = tensors({k: v for k, v in ema_model.state_dict().items() if ".experts." not in k})

    # 3. the adaptive thresholds: the EMA model over the labeled set (validate), then the rule
    _, _, _, outputs_new, targets_new = main.validate([(x, y)], ema_model, criterion, 1, True, mode="Train Stats")
    peaked = torch.randn(40, C) * 8  # a second case where most predictions are confident and right
    peaked_y = peaked.argmax(1)
    peaked_y[::5] = (peaked_y[::5] + 1) % C
    peaked_y[peaked_y == 2] = 3  # class 2 has no correct prediction: reset to 0.8
    rows = [torch.ones(1, C), peaked]
    thr_ema = [float(t) for t in main.adaptive_threshold_generate(outputs_new, targets_new, [0.8] * C, 1)]
    thr_peaked = [float(t) for t in main.adaptive_threshold_generate(torch.cat(rows), torch.cat(
        [torch.ones(1).long(), peaked_y]), [0.8] * C, 3)]
    # a case where the rule binds for every class: each class's correct predictions are confident
    # enough that mean * 0.97 / (1 + e^-epoch) clears 0.8, each class by its own margin
    binding_y = torch.arange(70) % C
    binding = torch.randn(70, C) + torch.nn.functional.one_hot(binding_y, C) * (5.0 + 0.5 * binding_y[:, None])
    thr_binding = [float(t) for t in main.adaptive_threshold_generate(
        torch.cat([torch.ones(1, C), binding]), torch.cat([torch.ones(1).long(), binding_y]), [0.8] * C, 5)]
    assert min(thr_binding) > 0.81, thr_binding  # not one class at the floor
    thresholds = lists(ema_logits=outputs_new[1:], labels=targets_new[1:], epoch=1, thresholds=thr_ema,
                       peaked_logits=peaked, peaked_labels=peaked_y, peaked_epoch=3, peaked_thresholds=thr_peaked,
                       binding_logits=binding, binding_labels=binding_y, binding_epoch=5, binding_thresholds=thr_binding)
    return {"weights": weights, "forward": forward, "train_step": step, "thresholds": thresholds,
            "run": record_leaf_run(main, initial, criterion)}


def record_leaf_run(main, model: nn.Module, criterion) -> dict:
    """LEAF_STEPS iterations of the release's train() at batch LEAF_BATCH from the fixture's initial
    weights (its Adam, WeightEMA and hidden decay throughout): the model and EMA after them."""
    torch.manual_seed(11)
    n = LEAF_BATCH
    labeled = [(torch.rand(n, 3, HW, HW), torch.arange(n) % C) for _ in range(LEAF_STEPS)]
    unlabeled = [(tuple(torch.rand(n, 3, HW, HW) for _ in range(3)), torch.zeros(n)) for _ in range(LEAF_STEPS)]
    model.eval()
    with torch.no_grad():  # about half of the first batch passes
        u, u2, _ = unlabeled[0][0]
        conf = ((model(u)[0].softmax(1) + model(u2)[0].softmax(1)) / 2).max(1).values.sort().values
    threshold = [float(conf[n // 2])] * C
    ema_model = copy.deepcopy(model)
    for q in ema_model.parameters():
        q.detach_()
    optimizer = torch.optim.Adam(model.parameters(), lr=main.args.lr * n / 16)
    ema_opt = main.WeightEMA(model, ema_model, alpha=main.args.ema_decay)
    cap = Capture(model)
    main.args.train_iteration = LEAF_STEPS
    seed = 99
    torch.manual_seed(seed)
    loss, loss_x, loss_u, loss_s = main.train(labeled, unlabeled, model, optimizer, ema_opt, criterion,
                                              main.SupConLoss(), list(threshold), 1, True)
    main.args.train_iteration = 1
    run = lists(steps=LEAF_STEPS, batch=n, seed=seed, threshold=threshold, lr=optimizer.param_groups[0]["lr"],
                x=torch.stack([b[0] for b in labeled]), y=torch.stack([b[1] for b in labeled]),
                u=torch.stack([b[0][0] for b in unlabeled]), u2=torch.stack([b[0][1] for b in unlabeled]),
                strong=torch.stack([b[0][2] for b in unlabeled]),
                logits_strong=torch.stack([c[0] for c in cap.calls[3::4]]),
                loss=loss, loss_x=loss_x, loss_u=loss_u, loss_s=loss_s)
    run["model_after"] = tensors({k: v for k, v in model.state_dict().items() if ".experts." not in k})
    run["ema_after"] = tensors({k: v for k, v in ema_model.state_dict().items() if ".experts." not in k})
    return run


def record_sitfer(folder: Path) -> dict:
    n = SITFER_BATCH
    main = load_release(folder, ["--train-iteration", "1", "--n_labeled", str(2 * n)])
    backbone = importlib.import_module("models.backbone")
    torch.manual_seed(0)
    model = build(backbone.ResNet_18, base=trunk(relu=False), output=nn.Sequential(nn.Dropout(0.5), backbone.Flatten()),
                  classifier=nn.Linear(D, C))
    with torch.no_grad():
        model.classifier.weight.mul_(SITFER_SCALE)
    # the release's encoder at the tiny network's width, drawn from its own seed so that ssfer's `release`
    # encoder can rebuild it (the generator's state is put back: the other draws do not depend on it)
    rng = torch.random.get_rng_state()
    torch.manual_seed(TEXT_SEED)
    text_encoder = main.TextEncoder(main.vocab_size, D, main.nhead, main.num_layers)
    torch.random.set_rng_state(rng)
    main.global_bank = torch.zeros(D, 2 * n)  # the release's bank is 512 x n_labeled
    main.global_labels = torch.zeros(2 * n, dtype=torch.int)
    weights = tensors(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=main.args.lr)
    optimizer2 = torch.optim.Adam(text_encoder.parameters(), lr=main.args.lr2)
    criterion = nn.CrossEntropyLoss(reduction="none")
    fused = []  # the argument of F.softmax(p_fussion) inside train()
    real_f = main.F
    main.F = types.SimpleNamespace(**{k: getattr(real_f, k) for k in dir(real_f) if not k.startswith("__")})
    main.F.softmax = lambda t, dim=None, **k: (fused.append(t.detach().clone()), real_f.softmax(t, dim=dim, **k))[1]

    class Batches:  # the release calls iterator.next() (Python 2 style)
        def __init__(self, items):
            self.it = iter(items)

        def __next__(self):
            return next(self.it)

        next = __next__

    class Loader(list):
        def __iter__(self):
            return Batches(list.__iter__(self))

    cap = Capture(model)
    steps = []
    seed = 4321
    for k, (epoch, idx) in enumerate(((1, torch.arange(0, n)), (16, torch.arange(n, 2 * n)))):  # before / after
        x, u, u2, s = (torch.rand(n, 3, HW, HW) for _ in range(4))  # the instance level's warm-up
        y = (torch.arange(n) % C)[torch.randperm(n)]
        torch.manual_seed(seed + k)  # the dropout draws of this step
        cap.calls.clear()
        fused.clear()
        out = main.train(Loader([(x, y, idx, idx)]), Loader([((u, u2, s), y, idx, idx)]), model, text_encoder,
                         optimizer, optimizer2, criterion, True, main.global_bank, epoch)
        total, ls_m, lt_m, lu_m, text = out
        (lu, fu), (lst, _), (lx, fx) = cap.calls
        z = fused[0]
        steps.append(lists(epoch=epoch, x=x, y=y, idx=idx, u=u, strong=s, logits_u=lu, feature_u=fu, logits_strong=lst,
                           logits_x=lx, feature_x=fx, fused_scores=z, loss=total, loss_s=ls_m.val,
                           loss_t=lt_m.val, loss_u=lu_m.val, bank=main.global_bank.T.clone(),
                           bank_labels=main.global_labels.clone()))
        steps[-1]["grads"] = {k: v.grad.tolist() for k, v in model.named_parameters() if v.grad is not None}
        steps[-1]["model_after"] = tensors(model.state_dict())
    main.F = real_f
    # the test-time predictor: validate() on a test batch, reading the fused output it scores
    x_test = torch.rand(8, 3, HW, HW)
    y_test = torch.randint(0, C, (8,))
    scored = []
    real_acc = main.accuracy
    main.accuracy = lambda out, tgt, topk: (scored.append(out.detach().clone()), real_acc(out, tgt, topk))[1]
    main.validate([(x_test, y_test, None, None)], model, text, criterion, 16, True, mode="Test Stats")
    main.accuracy = real_acc
    return {"weights": weights, "text": text.tolist(), "text_seed": TEXT_SEED, "seed": seed, "lr": main.args.lr, "steps": steps,
            "predict": lists(x=x_test, probs=scored[0])}



def record_sitfer_text(folder: Path) -> dict:
    """The release's class text matrix as its loop builds it (main.py:228-239: ``tokenize`` each
    prompt, ``TextEncoder`` in eval mode, normalise), from a ``TextEncoder(7, 512, 8, 3)`` made right
    after ``torch.manual_seed(seed)``: what ssfer's ``release`` encoder must rebuild from the seed."""
    main = load_release(folder, ["--train-iteration", "1", "--n_labeled", "12"])
    out = {}
    for seed in TEXT_SEEDS:
        torch.manual_seed(seed)
        encoder = main.TextEncoder(main.vocab_size, main.d_model, main.nhead, main.num_layers)
        encoder.eval()
        tokens, rows = [], []
        with torch.no_grad():
            for emotion in ["surprise", "fear", "disgust", "happy", "sad", "angry", "neutral"]:
                t = main.tokenize(f"This is a face image of {emotion}", main.vocab)
                tokens.append(t[0].tolist())
                rows.append(torch.nn.functional.normalize(encoder(t), dim=-1))
        matrix = torch.cat(rows)
        out[str(seed)] = {"tokens": tokens, "matrix": matrix.tolist(), "cosines": (matrix @ matrix.T).tolist(),
                          "weight_sums": {k: float(v.double().sum()) for k, v in encoder.state_dict().items()}}
    return {"text": out}


AUG_SIZE, AUG_IMAGES = 48, 6
"""The augmentation fixture: image side (ssfer's default; RandomCrop's padding 8 of the release's
224 px is 2 here) and pipeline runs recorded."""


def record_augment(folder: Path) -> dict:
    """The LEAF release's views (dataset/raf.py ``TransformTwice``, dataset/randaugment.py, the
    weak transform of main.py:94-102 at AUG_SIZE px) on fixed images, every random draw recorded
    where the release makes it: ``random.choices`` / ``random.random`` (ops, magnitudes, Cutout's
    size), ``np.random.uniform`` (Cutout's corner), RandomApply's draw and RandomCrop's offsets,
    the flip; and each op's output on its own (every one of the 14 at a drawn magnitude)."""
    import base64
    import random

    import numpy as np
    from PIL import Image
    from torchvision import transforms

    load_release(folder, ["--train_iteration", "1"])
    raf = importlib.import_module("dataset.raf")
    ra = importlib.import_module("dataset.randaugment")
    enc = lambda img: base64.b64encode(np.asarray(img, dtype=np.uint8).tobytes()).decode()  # noqa: E731
    rng = np.random.default_rng(3)
    # smooth gradients with blobs: every op (equalize, autocontrast, posterize ...) changes them
    yy, xx = np.mgrid[0:AUG_SIZE, 0:AUG_SIZE] / AUG_SIZE
    images = []
    for k in range(AUG_IMAGES):
        base = np.stack([80 + 90 * xx, 60 + 120 * yy, 100 + 60 * np.sin(6 * xx + k)], -1)
        base += rng.normal(0, 12, base.shape)
        images.append(Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)))

    log: list = []
    py = random.Random(5)

    class LoggedRandom:  # randaugment.py's `random`
        def choices(self, population, k):
            out = py.choices(population, k=k)
            log.append(("choices", [population.index(o) for o in out]))
            return out

        def random(self):
            v = py.random()
            log.append(("random", v))
            return v

    class LoggedNumpy:  # randaugment.py's `np` (it calls np.random.uniform)
        def __init__(self):
            self.gen, self.random = np.random.RandomState(7), self

        def uniform(self, low):
            v = float(self.gen.uniform(low))
            log.append(("uniform", v))
            return v

    ra.random, ra.np = LoggedRandom(), LoggedNumpy()
    real_get_params, real_hflip = transforms.RandomCrop.get_params, transforms.functional.hflip

    def get_params(img, output_size):
        i, j, h, w = real_get_params(img, output_size)
        log.append(("crop", [i, j]))
        return i, j, h, w

    def hflip(img):
        log.append(("flip", True))
        return real_hflip(img)

    transforms.RandomCrop.get_params = staticmethod(get_params)
    transforms.functional.hflip = hflip
    weak_transform = transforms.Compose([  # main.py:94-102 without Resize(224) / ToTensor / Normalize
        transforms.RandomApply([transforms.RandomCrop(AUG_SIZE, padding=round(8 / 224 * AUG_SIZE))], p=0.5),
        transforms.RandomHorizontalFlip()])
    twice = raf.TransformTwice(weak_transform)
    randaug = twice.strong_transfrom.transforms[0]
    assert isinstance(randaug, ra.RandAugment) and randaug.n == 3
    stages: list = []
    names = [fn.__name__ for fn, _, _ in randaug.augment_list]

    def logged(fn):
        def run(img, v):
            out = fn(img, v)
            stages.append(("op", fn.__name__, v, enc(out)))
            return out
        return run

    randaug.augment_list = [(logged(fn), lo, hi) for fn, lo, hi in randaug.augment_list]
    real_cutout = ra.Cutout
    ra.Cutout = lambda img, v: (lambda out: (stages.append(("cutout", None, v, enc(out))), out)[1])(real_cutout(img, v))
    torch.manual_seed(11)
    runs = []
    for img in images:  # TransformTwice.__call__'s three calls, each view's draws kept apart
        views, draws = [], []
        for transform in (twice.transform, twice.transform, twice.strong_transfrom):
            log.clear()
            stages.clear()
            views.append(enc(transform(img)))
            draws.append(list(log))
        runs.append({"weak": views[:2], "weak_draws": draws[:2], "strong": views[2], "strong_draws": draws[2],
                     "stages": list(stages)})
    transforms.RandomCrop.get_params, transforms.functional.hflip = staticmethod(real_get_params), real_hflip
    ra.Cutout = real_cutout
    # each op alone at a magnitude drawn in its range, on the first image
    single = []
    for fn, lo, hi in ra.augment_list():
        v = lo + float(hi - lo) * py.random()
        single.append({"op": fn.__name__, "v": v, "out": enc(fn(images[0], v))})
    return {"size": AUG_SIZE, "pad": round(8 / 224 * AUG_SIZE), "op_names": names,
            "images": [enc(i) for i in images], "runs": runs, "single_ops": single}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaf", type=Path, required=True, help="the LEAF release's Code_LEAF folder (7873d3a)")
    ap.add_argument("--sitfer", type=Path, required=True, help="the SIT-FER release's root folder (2aa046c)")
    ap.add_argument("--only", choices=["leaf", "sitfer", "sitfer_text", "augment"], nargs="*",
                    help="record only these fixtures (default: all)")
    a = ap.parse_args()
    no_cuda()
    torch.set_num_threads(1)
    here = os.getcwd()
    notes = {"leaf": ("zfkarl/LEAF", "7873d3a5b858afcb24c75c97ae6e2b311b711950",
                      "Code_LEAF/models/backbone.py: ResNet_18.forward, Instance_MoE, SparseDispatcher, ResExpert; "
                      "Code_LEAF/main.py: train (1 iteration; 5 at batch 16), validate, mask_generate, topk_ce_FPL, "
                      "adaptive_threshold_generate, WeightEMA; Code_LEAF/losses.py: SupConLoss"),
             "sitfer": ("PatrickStarL/SIT-FER", "2aa046cab882f5137818de961ddfb7c5685ebdd6",
                        "models/backbone.py: ResNet_18.forward; main.py: train (2 iterations: epoch 1, before the "
                        "instance warm-up, and epoch 16, after), update_bank, TextEncoder, tokenize, validate"),
             "sitfer_text": ("PatrickStarL/SIT-FER", "2aa046cab882f5137818de961ddfb7c5685ebdd6",
                             "main.py: tokenize, vocab, TextEncoder (d_model 512, nhead 8, 3 layers, eval mode), "
                             "the class text matrix of train() (main.py:228-239)"),
             "augment": ("zfkarl/LEAF", "7873d3a5b858afcb24c75c97ae6e2b311b711950",
                         "Code_LEAF/dataset/raf.py: TransformTwice; Code_LEAF/dataset/randaugment.py: RandAugment, "
                         "augment_list, Cutout, CutoutAbs; Code_LEAF/main.py:94-102: the weak transform (RandomApply("
                         "RandomCrop(padding=8), p=0.5), RandomHorizontalFlip)")}
    jobs = (("leaf", record_leaf, a.leaf), ("sitfer", record_sitfer, a.sitfer),
            ("sitfer_text", record_sitfer_text, a.sitfer), ("augment", record_augment, a.leaf))
    for name, fn, folder in [j for j in jobs if not a.only or j[0] in a.only]:
        data = fn(folder.resolve())
        os.chdir(here)
        repo, commit, functions = notes[name]
        data = {"source": {"repository": repo, "commit": commit, "functions": functions,
                           "torch": torch.__version__, "script": "scripts/record_official_fixtures.py",
                           "network": "the release's TextEncoder at its own width" if name == "sitfer_text" else
                                      f"none: {AUG_IMAGES} generated {AUG_SIZE}x{AUG_SIZE} RGB images" if name == "augment" else
                                      f"trunk Conv2d(3,{D},3,bias=False)+BN{'' if name == 'sitfer' else '+ReLU'} on {HW}x{HW} "
                                      f"images, then the release's blocks at width {D}; {C} classes; batch "
                                      f"{SITFER_BATCH if name == 'sitfer' else f'{B} ({LEAF_BATCH} in the run)'}"}} | data
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"official_{name}.json").write_text(json.dumps(data, separators=(",", ":")))
        print(f"wrote {OUT / f'official_{name}.json'}")


if __name__ == "__main__":
    main()
