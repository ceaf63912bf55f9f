"""`ssfer data check` on every reader's layout and on broken copies of them; AffectNet face boxes;
extra unlabeled images."""
from pathlib import Path
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from real_layouts import LAYOUTS
from ssfer_study.cli import main
from ssfer_core.config import DataConfig, TrainConfig
from ssfer_core.data.loading import load_data
from ssfer_core.data.datasets import read_records
from ssfer_core.data.check import check_dataset


def _write(name, faces, tmp_path):
    data = LAYOUTS[name](faces, tmp_path / name)
    return data, DataConfig(**data, split_dir=str(tmp_path / "splits"), cache_dir=str(tmp_path / "cache"),
                            image_size=32, labels_per_class=2, split_seed=0)


def _check(data, capsys, *extra):
    code = main(["data", "check", "--dataset", data["dataset"], "--root", data["root"],
                 "--num-classes", str(data["num_classes"]), "-S", "data.labels_per_class=2", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_each_layout_reads_back_its_labels_and_passes_the_check(name, faces8, tmp_path, capsys):
    data, cfg = _write(name, faces8, tmp_path)
    k = data["num_classes"]
    want = Counter((c, "train" if s == "train" else "test") for _, c, s in faces8 if c < k)
    got = Counter((r.label, "train" if r.split == "train" else "test") for r in read_records(cfg) if r.label < k)
    assert got == want  # every face back, under its class: the label mapping is exact
    code, out = _check(data, capsys)
    assert code == 0, out
    assert "verdict: training can start" in out
    n_train = sum(1 for _, c, s in faces8 if c < k and s == "train")
    assert f"total{n_train:>18}".replace(" ", "") in out.replace(" ", "")


def test_published_counts_and_protocols_are_shown(faces8, tmp_path, capsys):
    data, _ = _write("rafdb", faces8, tmp_path)
    code, out = _check(data, capsys, "-S", "data.val_size=7")
    assert code == 0
    assert "(12271)" in out and "(3068)" in out and "(281)" in out  # RAF-DB basic: total, test, fear
    assert "a subset or another release?" in out  # a warning, not a reason to stop
    assert "1 Surprise" in out and "-> 0 surprise" in out  # RAF-DB's label 1 is canonical 0
    assert "adacm: none of 100, 400, 1000, 2000, 4000" in out
    assert "pool after a validation split of 7" in out


def _break_label_file(root):
    (root / "basic" / "EmoLabel" / "list_patition_label.txt").unlink()


def _label_out_of_range(root):
    f = root / "basic" / "EmoLabel" / "list_patition_label.txt"
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:3] + [lines[3].split()[0] + " 9"] + lines[4:]) + "\n")


def _rename_image_folder(root):
    (root / "basic" / "Image" / "aligned").rename(root / "basic" / "Image" / "Aligned")


@pytest.mark.parametrize("layout,breaker,expect", [
    ("rafdb", _break_label_file, "RAF-DB label file not found"),
    ("rafdb", _label_out_of_range, "list_patition_label.txt:4: label 9 is outside RAF-DB's 1..7"),
    ("rafdb", _rename_image_folder, "none of the"),
    ("sfew", lambda r: (r / "Train/Train_Aligned_Faces/Happy").rename(r / "Train/Train_Aligned_Faces/Joyful"),
     "unknown expression class name 'Joyful'"),
    ("imagefolder", lambda r: (r / "train").rename(r / "training"), "image folder not found"),
    ("affectnet8", lambda r: (r / "training.csv").unlink(), "AffectNet csv not found"),
    ("fer2013", lambda r: (r / "fer2013.csv").write_text("emotion,pixels,Usage\n9,1 2 3 4,Training\n"),
     "emotion 9 is outside FER2013's 0..6"),
    ("ferplus", lambda r: (r / "fer2013new.csv").unlink(), "FERPlus vote file not found"),
])
def test_broken_copies_stop_with_the_reason(layout, breaker, expect, faces8, tmp_path, capsys):
    data, _ = _write(layout, faces8, tmp_path)
    breaker(tmp_path / layout)
    code, out = _check(data, capsys)
    assert code == 2, out
    assert "verdict: training cannot start" in out and expect in out


def test_corrupt_image_is_a_warning_under_skip_and_a_stop_under_error(faces8, tmp_path, capsys):
    data, _ = _write("rafdb", faces8, tmp_path)
    bad = tmp_path / "rafdb" / "basic" / "Image" / "aligned" / "train_00002_aligned.jpg"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    code, out = _check(data, capsys)
    assert code == 0 and "1 unreadable" in out and "training skips them" in out and str(bad) in out
    code, out = _check(data, capsys, "-S", "data.on_bad_image=error")
    assert code == 2 and "data.on_bad_image=error" in out and str(bad) in out


def test_too_many_labels_per_class_names_the_class_and_the_fix(faces8, tmp_path, capsys):
    data, _ = _write("sfew", faces8, tmp_path)
    code, out = _check(data, capsys, "-S", "data.labels_per_class=500")
    assert code == 2
    assert "asks for 500 labeled images of class 0 (surprise)" in out and "lower data.labels_per_class" in out


def test_train_runs_the_same_check_first(faces8, tmp_path, capsys):
    """`ssfer train` stops before reading any image, with the check's words, and writes nothing."""
    data, _ = _write("rafdb", faces8, tmp_path)
    _rename_image_folder(tmp_path / "rafdb")
    code, check_out = _check(data, capsys)
    reason = next(line.strip("  -") for line in check_out.splitlines() if "none of the" in line)
    out_dir = tmp_path / "run"
    code = main(["train", "--out", str(out_dir), "-S", "data.dataset=rafdb", "-S", f"data.root={data['root']}",
                 "-S", f"data.split_dir={tmp_path / 'splits'}", "-S", "steps=2"])
    err = capsys.readouterr().err
    assert code == 3 and reason in err and "ssfer data check" in err
    assert not (tmp_path / "splits").exists() and not (out_dir / "checkpoint.pt").exists()


def test_paper_profile_data_check_says_its_protocol_does_not_fit_a_small_copy(faces8, tmp_path, capsys):
    """The paper profile's Ada-CM 1000-label split needs 150 images of most classes: a tiny RAF-DB copy fails
    the check with that reason, before anything trains."""
    data, _ = _write("rafdb", faces8, tmp_path)
    code = main(["data", "check", "--profile", str(Path(__file__).resolve().parents[1] / "studies/paper/params.yaml"), "--root", data["root"],
                 "-S", "data.val_size=0", "--no-decode"])
    out = capsys.readouterr().out
    assert code == 2 and "adacm split asks for 150 labeled images of class 0 (surprise)" in out \
        and "no Ada-CM budget fits" in out


def test_affectnet_crops_to_the_face_box(faces8, tmp_path):
    data, cfg = _write("affectnet8", faces8, tmp_path)
    faces = {("train", i): img for i, (img, c, s) in enumerate(faces8) if s == "train"}
    cropped = load_data(cfg)
    cfg.face_box, cfg.cache_dir = False, str(tmp_path / "cache_uncropped")
    uncropped = load_data(cfg)
    # the fixture's n-th row is faces8's n-th face; keys are that index in hex
    order = [int(k, 16) for k in cropped.train_keys]
    truth = torch.from_numpy(np.stack([np.asarray(faces8[i][0]) for i in order])).permute(0, 3, 1, 2).float()
    err_crop = (cropped.train_images.float() - truth).abs().mean()
    err_whole = (uncropped.train_images.float() - truth).abs().mean()
    assert err_crop < 6 and err_whole > 30, (err_crop, err_whole)  # JPEG noise vs another picture
    assert cropped.split_hash == uncropped.split_hash  # same records, same split


def test_extra_unlabeled_images_join_the_unlabeled_pool_only(faces8, tmp_path):
    data, cfg = _write("imagefolder", faces8, tmp_path)
    extra = tmp_path / "extra" / "session1"
    extra.mkdir(parents=True)
    for i, (img, _, _) in enumerate(faces8[:9]):
        img.save(extra / f"frame{i}.png")
    (extra / "notes.txt").write_text("not an image")
    base = load_data(cfg)
    cfg.extra_train = str(tmp_path / "extra")
    more = load_data(cfg)
    assert more.split_hash == base.split_hash  # the split file does not see the extras
    assert torch.equal(more.labeled_idx, base.labeled_idx) and torch.equal(more.val_idx, base.val_idx)
    assert len(more.unlabeled_idx) == len(base.unlabeled_idx) + 9
    new = more.unlabeled_idx[-9:]
    assert (more.train_labels[new] == -1).all() and more.train_keys[new[0]].startswith("extra/session1/")
    assert check_dataset(cfg).extra == 9


def test_extra_unlabeled_images_train_and_are_scored_on_known_labels_only(tiny_cfg, faces8, tmp_path):
    from ssfer_core.train import score_pseudo_labels, train

    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    logs = score_pseudo_labels({"pseudo": {"pl_": (probs, torch.tensor([1.0, 1.0, 0.0]))},
                                "positive_sets": probs > 0.5}, torch.tensor([0, -1, 1]))
    assert logs["pl_acc"] == 0.5 and logs["pl_pass_acc"] == 1.0 and logs["pl_positive_recall"] == 0.5
    extra = tmp_path / "extra"
    extra.mkdir()
    for i, (img, _, _) in enumerate(faces8[:30]):
        img.save(extra / f"{i}.png")
    tiny_cfg.data.extra_train = str(extra)
    m = train(tiny_cfg, tmp_path / "run", progress=False)
    assert np.isfinite(m["ema"]["last"]["acc"])


def test_bad_extra_folder_is_a_data_error(tiny_cfg, tmp_path, capsys):
    code = main(["data", "check", "--dataset", "synthfacs", "--root", tiny_cfg.data.root,
                 "-S", f"data.extra_train={tmp_path / 'nowhere'}", "--no-decode"])
    assert code == 2 and "extra unlabeled image folder not found" in capsys.readouterr().out


def test_fer2013_tests_on_private_test_and_leaves_public_test_out(faces8, tmp_path, capsys):
    data, cfg = _write("fer2013", faces8, tmp_path)
    records = read_records(cfg)
    public = sum(r.split == "val" for r in records)
    private = sum(r.split == "test" for r in records)
    assert public > 0 and private > 0
    d = load_data(cfg)
    assert len(d.test_labels) == private
    assert len(d.train_labels) == sum(r.split == "train" for r in records)
    code, out = _check(data, capsys)
    assert code == 0 and f"validation images ({public}" in out and "are not used" in out


def test_rows_the_readers_leave_out_are_counted_by_reason(faces8, tmp_path, capsys):
    contempt = sum(c == 7 for _, c, _ in faces8)
    data, _ = _write("affectnet7", faces8, tmp_path)
    code, out = _check(data, capsys)
    assert code == 0
    assert (f"left out by the reader: {contempt + 3} (contempt (num_classes=7): {contempt}" in out
            and "8 None: 1" in out and "9 Uncertain: 1" in out and "10 No-Face: 1" in out)
    data, _ = _write("ferplus", faces8, tmp_path)
    code, out = _check(data, capsys)
    assert "no majority (tie, unknown or not a face): 1" in out and "removed from FERPlus (no image name): 1" in out
    data, _ = _write("imagefolder", faces8, tmp_path)
    code, out = _check(data, capsys, "-S", "data.num_classes=7")
    assert code == 0 and f"contempt (num_classes=7): {contempt}" in out
