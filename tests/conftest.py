import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A tiny SynthFACS dataset in RAF-DB layout (420 train / 140 test, 32 px)."""
    from ssfer_core.data.synthetic import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(seed=3, n_train=420, n_test=140, image_size=32, supersample=3, workers=1,
                      class_priors=(1, 1, 1, 1, 1, 1, 1))
    generate(cfg, root, progress=False)
    return root


@pytest.fixture
def tiny_cfg(tiny_synth, tmp_path):
    """A TrainConfig that trains in about a second on ``tiny_synth``."""
    from ssfer_core.config import TrainConfig

    cfg = TrainConfig(steps=12, eval_every=6, log_every=3, ckpt_every=6, batch_size=14, mu=2, threads=1)
    cfg.data.root = str(tiny_synth)
    cfg.data.image_size = 32
    cfg.data.labels_per_class = 4
    cfg.data.split_dir = str(tmp_path / "splits")
    cfg.data.cache_dir = str(tmp_path / "cache")
    cfg.data.split_seed = 0  # one split whatever a test's seed (tests load data without training)
    cfg.net.backbone = "synth_cnn_tiny"
    cfg.sitfer.text_encoder = "random"
    return cfg


@pytest.fixture(scope="session")
def faces8(tmp_path_factory):
    """SynthFACS faces of all 8 classes (uniform priors; 112 train / 48 test, 32 px) as
    ``(PIL image, canonical label, split)``: the source of the real-layout fixtures."""
    from real_layouts import synthfacs_faces
    from ssfer_core.data.synthetic import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth8")
    cfg = SynthConfig(seed=5, n_train=112, n_test=48, image_size=32, supersample=2, workers=1, num_classes=8,
                      class_priors=(1,) * 8, annotator_noise=0.0)
    generate(cfg, root, progress=False)
    return synthfacs_faces(root, 8)
