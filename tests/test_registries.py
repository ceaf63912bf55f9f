"""Adding a method or a dataset is one registered definition: the registries find them, the config
checks against them, the trainer and the dataset check use them, nothing else changes."""
import copy
from pathlib import Path

import pytest
import torch.nn.functional as F

from ssfer_core.config import ConfigError, validate
from ssfer_core.data.check import check_dataset
from ssfer_core.data.datasets import DATASETS, read_records, register_dataset
from ssfer_core.data.readers import read_rafdb
from ssfer_core.methods import METHODS, SSLMethod, register_method
from ssfer_core.train import train


class EntropyMin(SSLMethod):
    """A toy method: labeled CE plus the entropy of the unlabeled weak view's prediction."""

    unlabeled_views = ("weak",)

    def train_step(self, labeled, unlabeled, step):
        out_l, out_u = self.forward_views([labeled["x"], unlabeled["weak"]])
        loss_s = F.cross_entropy(out_l["logits"], labeled["y"])
        p = out_u["logits"].softmax(-1)
        loss_u = -(p * p.clamp_min(1e-8).log()).sum(-1).mean()
        return loss_s + 0.1 * loss_u, {"loss_s": loss_s.item(), "loss_u": loss_u.item()}


@pytest.fixture
def toy_method():
    @register_method("entropy_min")
    def entropy_min(model, ctx):
        """Entropy minimisation (a test's toy)."""
        return EntropyMin(None, model, ctx)

    yield "entropy_min"
    METHODS.remove("entropy_min")


def test_a_registered_method_trains_end_to_end(toy_method, tiny_cfg, tmp_path):
    cfg = copy.deepcopy(tiny_cfg)
    cfg.method = toy_method
    validate(cfg)
    m = train(cfg, tmp_path / "run", progress=False)
    assert m["method"] == "entropy_min" and 0 <= m["ema"]["last"]["acc"] <= 1
    assert (tmp_path / "run" / "dvclive" / "plots" / "metrics" / "train" / "loss_u.tsv").exists()
    assert METHODS[toy_method].doc.startswith("Entropy minimisation")


def test_unregistered_names_are_refused_with_the_known_ones(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg.method = "mixmatch"
    with pytest.raises(ConfigError, match="method='mixmatch' is not allowed: expected one of: .*fixmatch"):
        validate(cfg)
    cfg.method, cfg.data.dataset = "fixmatch", "cifar"
    with pytest.raises(ConfigError, match="data.dataset='cifar' is not allowed: expected one of: .*rafdb"):
        validate(cfg)


def test_a_registered_dataset_is_read_and_checked(tiny_cfg):
    @register_dataset("toy", "a toy copy", layout="RAF-DB basic", published={"name": "toy", "test": 999})
    def toy(cfg, dropped):
        return read_rafdb(Path(cfg.root))

    try:
        cfg = copy.deepcopy(tiny_cfg)
        cfg.data.dataset = "toy"
        validate(cfg)
        records = read_records(cfg.data)
        assert len(records) == 560
        rep = check_dataset(cfg.data, records=records, decode=False)
        assert rep.ok and any("toy has 999" in w for w in rep.warnings)  # its published count is compared
    finally:
        DATASETS.remove("toy")
    with pytest.raises(ValueError, match="registered twice"):
        register_dataset("rafdb", "again")(toy)
