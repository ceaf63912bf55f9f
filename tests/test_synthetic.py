import numpy as np
import pandas as pd
import pytest

from ssfer_core.data.readers import read_rafdb
from ssfer_core.data.synthetic import AUS, PROTOTYPES, SynthConfig, raf_name, render_sample, sample_expression
from ssfer_core.labels import NEUTRAL


def test_render_is_deterministic_per_seed_and_index():
    cfg = SynthConfig(image_size=32, supersample=2)
    a, ra = render_sample(cfg, "train", 5)
    b, rb = render_sample(cfg, "train", 5)
    c, _ = render_sample(cfg, "train", 6)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and ra == rb
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert a.size == (32, 32) and a.mode == "RGB"


def test_rafdb_layout_labels_and_metadata(tiny_synth):
    lines = (tiny_synth / "EmoLabel" / "list_patition_label.txt").read_text().splitlines()
    assert len(lines) == 560 and lines[0].startswith("train_00001.jpg ")
    assert lines[420].startswith("test_0001.jpg ")
    labels = {int(l.split()[1]) for l in lines}
    assert labels <= set(range(1, 8)) and len(labels) == 7  # RAF-DB's 1-based ids
    assert (tiny_synth / "Image" / "aligned" / "train_00001_aligned.jpg").exists()
    meta = pd.read_csv(tiny_synth / "metadata.csv")
    soft = meta[[f"soft_{k}" for k in range(7)]].to_numpy()
    assert np.allclose(soft.sum(1), 1, atol=1e-3)
    for col in ["identity", "roll", "yaw", "occluder", "light_dir", "jpeg", "intensity", *AUS]:
        assert col in meta.columns
    recs = read_rafdb(tiny_synth)
    by_key = {r.key: r.label for r in recs}
    assert all(by_key[f.removesuffix(".jpg")] == lab for f, lab in zip(meta["file"], meta["label"]))


def test_names_follow_rafdb():
    assert raf_name("train", 0) == "train_00001" and raf_name("test", 41) == "test_0042"


def test_expression_structure():
    cfg = SynthConfig(annotator_noise=0.0, blend_prob=0.0)
    r = np.random.default_rng(0)
    rows = [sample_expression(r, cfg, cfg.priors()) for _ in range(2000)]
    for row in rows:
        if row["class"] == NEUTRAL:
            assert row["soft"][NEUTRAL] == 1.0
        assert row["label"] == int(np.argmax(row["soft"]))
    # weak expressions drift toward neutral, strong ones do not
    weak = [r for r in rows if r["class"] != NEUTRAL and r["intensity"] < 0.2]
    strong = [r for r in rows if r["class"] != NEUTRAL and r["intensity"] > 0.6]
    assert np.mean([r["soft"][NEUTRAL] for r in weak]) > 0.6
    assert all(r["label"] == r["class"] for r in strong)
    # the prototype AUs of happiness are active on strong happy faces
    happy = [r for r in strong if r["class"] == 3]
    assert np.mean([r["au"][AUS.index("AU12")] for r in happy]) > 0.5


def test_contempt_and_priors():
    cfg = SynthConfig(num_classes=8)
    p = cfg.priors()
    assert len(p) == 8 and abs(p.sum() - 1) < 1e-9 and p[7] == pytest.approx(0.03)
    assert "AU14R" in PROTOTYPES[7]
    with pytest.raises(ValueError, match="class_priors has 3 entries"):
        SynthConfig(class_priors=(1, 2, 3)).priors()


def test_eight_class_synthfacs_roundtrips_contempt(tmp_path):
    from ssfer_core.data.readers import DatasetError
    from ssfer_core.data.synthetic import generate

    cfg = SynthConfig(seed=1, n_train=60, n_test=10, image_size=24, supersample=2, workers=1, num_classes=8,
                      class_priors=(0, 0, 0, 0, 0, 0, 0, 1), annotator_noise=0.0, min_intensity=0.9)
    generate(cfg, tmp_path, progress=False)
    recs = read_rafdb(tmp_path, contempt=True)
    assert {r.label for r in recs} == {7}
    with pytest.raises(DatasetError, match="outside RAF-DB's 1..7"):
        read_rafdb(tmp_path)
