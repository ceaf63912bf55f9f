import numpy as np
import pytest
import torch

from ssfer_core.data.readers import DatasetError, Record
from ssfer_core.data.splits import make_split, per_class_counts, save_or_load_split


def _records(counts):
    recs, n = [], 0
    for label, c in enumerate(counts):
        for _ in range(c):
            recs.append(Record(key=f"train_{n:05d}", label=label, split="train"))
            n += 1
    return recs + [Record(key="test_0001", label=0, split="test")]


def test_per_class_split_is_seeded_and_exact():
    recs = _records([30, 12, 20, 50, 25, 15, 40])
    a = make_split(recs, 7, seed=1, labels_per_class=5)
    b = make_split(list(reversed(recs)), 7, seed=1, labels_per_class=5)
    c = make_split(recs, 7, seed=2, labels_per_class=5)
    assert a == b and a != c
    lab = [r.label for r in recs if a.get(r.key) == "labeled"]
    assert np.bincount(lab).tolist() == [5] * 7
    assert "test_0001" not in a


def test_labels_per_class_larger_than_class_names_class_and_fix():
    recs = _records([30, 3, 20, 50, 25, 15, 40])
    with pytest.raises(DatasetError, match=r"4 labeled images of class 1 \(fear\).*only 3.*at most 3"):
        make_split(recs, 7, seed=0, labels_per_class=4)


def test_protocols():
    sizes = np.array([1290, 281, 717, 4772, 1982, 705, 2524])
    labels = np.repeat(np.arange(7), sizes)
    assert per_class_counts(labels, 7, "adacm", n_labeled=100).tolist() == [15, 10, 15, 15, 15, 15, 15]
    assert per_class_counts(labels, 7, "sitfer_code", n_labeled=5000).tolist() == [823, 281, 57, 823, 823, 705, 823]
    assert per_class_counts(labels, 7, "fraction", fraction=0.1).tolist() == [129, 28, 72, 477, 198, 70, 252]


def test_split_saved_hashed_reused_and_tamper_detected(tmp_path):
    recs = _records([10] * 7)
    path = tmp_path / "s.csv"
    a, h1 = save_or_load_split(path, recs, 7, seed=0, labels_per_class=2)
    b, h2 = save_or_load_split(path, recs, 7, seed=99, labels_per_class=2)  # reused, seed ignored
    assert a == b and h1 == h2 and (tmp_path / "s.csv.sha256").exists()
    path.write_text(path.read_text().replace("labeled", "unlabeled", 1))
    with pytest.raises(DatasetError, match="does not match its hash"):
        save_or_load_split(path, recs, 7, seed=0, labels_per_class=2)


def test_validation_split_is_carved_apart_from_training():
    recs = _records([300, 120, 200, 500, 250, 150, 400])
    a = make_split(recs, 7, seed=1, val_size=200, labels_per_class=10)
    roles = np.array(list(a.values()))
    assert (roles == "val").sum() == 200 and (roles == "labeled").sum() == 70
    assert a == make_split(list(reversed(recs)), 7, seed=1, val_size=200, labels_per_class=10)
    # the labeled set is drawn from what validation left, so the two never share an image
    val = {k for k, r in a.items() if r == "val"}
    assert not val & {k for k, r in a.items() if r == "labeled"}
    # validation follows the class priors (a uniform draw), not a per-class quota
    lab_of = {r.key: r.label for r in recs}
    counts = np.bincount([lab_of[k] for k in val], minlength=7)
    assert counts[3] > counts[1]
    with pytest.raises(ValueError, match="val_size"):
        make_split(recs, 7, seed=1, val_size=len(recs) + 5, labels_per_class=1)


def test_eval_on_val_uses_the_validation_images(tiny_cfg):
    from ssfer_core.data.loading import load_data
    from ssfer_core.data.readers import DatasetError as DE

    tiny_cfg.data.val_size = 50
    d = load_data(tiny_cfg.data)
    x, y = d.eval_set("val")
    assert len(x) == 50 and torch.equal(x, d.train_images[d.val_idx]) and torch.equal(y, d.train_labels[d.val_idx])
    val = set(d.val_idx.tolist())
    assert not val & set(d.labeled_idx.tolist()) and not val & set(d.unlabeled_idx.tolist())
    assert len(d.labeled_idx) + len(d.unlabeled_idx) + 50 == len(d.train_labels)
    tiny_cfg.data.val_size = 0
    with pytest.raises(DE, match="val_size"):
        load_data(tiny_cfg.data).eval_set("val")


def test_each_seed_draws_its_own_split_unless_one_is_given():
    from ssfer_core.config import compose_config
    from ssfer_core.data.splits import split_path

    base = {"method": "fixmatch", "data": {"labels_per_class": 5}}
    cfgs = {seed: compose_config(base, {"seed": seed}) for seed in (0, 1, 2)}
    assert [c.data.split_seed for c in cfgs.values()] == [0, 1, 2]
    assert len({split_path(c.data) for c in cfgs.values()}) == 3
    recs = _records([40] * 7)
    labeled = [make_split(recs, 7, seed=c.data.split_seed, labels_per_class=5) for c in cfgs.values()]
    assert labeled[0] != labeled[1] and labeled[1] != labeled[2]
    fixed = [compose_config(base, {"seed": s}, ["data.split_seed=0"]).data.split_seed for s in (0, 1, 2)]
    assert fixed == [0, 0, 0]


def test_a_split_without_a_seed_is_a_config_error_naming_the_key():
    from ssfer_core.data.config import DataConfig
    from ssfer_core.data.splits import split_path
    from ssfer_core.errors import ConfigError

    with pytest.raises(ConfigError, match="data.split_seed"):
        split_path(DataConfig(split_seed=None))
    assert split_path(DataConfig(split_seed=3)).name.endswith("_seed3.csv")
