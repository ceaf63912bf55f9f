import csv

import numpy as np
import torch
import pytest
from PIL import Image

from ssfer_core.data.readers import (DatasetError, read_affectnet, read_fer2013, read_ferplus,
                                     read_image_folder, read_rafdb, read_sfew)
from ssfer_core.data.store import load_images
from ssfer_core.labels import class_id


def _img(path, color=(10, 20, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)


def _rafdb(root, lines):
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for line in lines:
        _img(root / "Image" / "aligned" / line.split()[0].replace(".jpg", "_aligned.jpg"))


def test_rafdb_mapping(tmp_path):
    # RAF-DB ids 1..7 = surprise fear disgust happiness sadness anger neutral -> 0..6
    _rafdb(tmp_path, [f"train_{i:05d}.jpg {i}" for i in range(1, 8)] + ["test_0001.jpg 4"])
    recs = read_rafdb(tmp_path)
    assert [r.label for r in recs] == [0, 1, 2, 3, 4, 5, 6, 3]
    assert [r.split for r in recs][-2:] == ["train", "test"]
    assert recs[0].path.name == "train_00001_aligned.jpg"


@pytest.mark.parametrize("line,match", [("train_00001.jpg x", "not an integer"),
                                        ("train_00001.jpg 9", "outside RAF-DB's 1..7"),
                                        ("train_00001.jpg", "expected")])
def test_rafdb_bad_lines_name_the_file_and_line(tmp_path, line, match):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(line + "\n")
    with pytest.raises(DatasetError, match=match) as e:
        read_rafdb(tmp_path)
    assert "list_patition_label.txt:1" in str(e.value)


def test_rafdb_missing_label_file(tmp_path):
    with pytest.raises(DatasetError, match="RAF-DB label file not found.*basic"):
        read_rafdb(tmp_path)


def _fer2013(path, emotions):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for e in emotions:
            w.writerow([e, " ".join(["7"] * 16), "Training"])


def test_fer2013_mapping(tmp_path):
    _fer2013(tmp_path / "fer2013.csv", range(7))  # Angry Disgust Fear Happy Sad Surprise Neutral
    recs = read_fer2013(tmp_path / "fer2013.csv")
    assert [r.label for r in recs] == [5, 2, 1, 3, 4, 0, 6]
    assert recs[0].pixels.shape == (4, 4)


def test_ferplus_majority_vote_rule(tmp_path):
    _fer2013(tmp_path / "fer2013.csv", [0] * 6)
    cols = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust",
            "fear", "contempt", "unknown", "NF"]
    rows = [["Training", "fer0.png", 0, 8, 2, 0, 0, 0, 0, 0, 0, 0],   # happiness
            ["Training", "fer1.png", 0, 0, 0, 0, 0, 0, 0, 6, 4, 0],   # contempt
            ["Training", "fer2.png", 5, 5, 0, 0, 0, 0, 0, 0, 0, 0],   # tie -> dropped
            ["Training", "fer3.png", 3, 0, 0, 0, 0, 0, 0, 0, 5, 2],   # unknown wins -> dropped
            ["Training", "", 9, 0, 0, 0, 0, 0, 0, 0, 0, 0],           # removed image -> dropped
            ["PrivateTest", "fer5.png", 1, 0, 0, 0, 0, 0, 9, 0, 0, 0]]  # fear
    with open(tmp_path / "fer2013new.csv", "w", newline="") as f:
        csv.writer(f).writerows([cols] + rows)
    recs = read_ferplus(tmp_path / "fer2013new.csv", tmp_path / "fer2013.csv")
    assert [(r.key, r.label, r.split) for r in recs] == [("fer0", 3, "train"), ("fer1", 7, "train"), ("fer5", 1, "test")]
    assert recs[0].soft[3] == pytest.approx(0.8)
    assert [r.label for r in read_ferplus(tmp_path / "fer2013new.csv", tmp_path / "fer2013.csv", 7)] == [3, 1]


def test_affectnet_mapping_7_and_8(tmp_path):
    with open(tmp_path / "training.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subDirectory_filePath", "expression"])
        for e in range(11):
            w.writerow([f"1/img{e}.jpg", e])
    eight = read_affectnet(tmp_path, "training.csv", "train", 8)
    assert [r.label for r in eight] == [6, 3, 4, 0, 1, 2, 5, 7]
    seven = read_affectnet(tmp_path, "training.csv", "train", 7)
    assert [r.label for r in seven] == [6, 3, 4, 0, 1, 2, 5]
    assert seven[0].path == tmp_path / "Manually_Annotated_Images" / "1" / "img0.jpg"


def test_sfew_and_image_folder(tmp_path):
    for split, sub in (("Train", "Train_Aligned_Faces"), ("Val", "Val_Aligned_Faces")):
        for name in ("Angry", "Happy", "Surprise"):
            _img(tmp_path / split / sub / name / "a.png")
    recs = read_sfew(tmp_path)
    assert sorted((r.split, r.label) for r in recs) == sorted(
        [(s, l) for s in ("train", "test") for l in (5, 3, 0)])
    _img(tmp_path / "folder" / "grumpy" / "x.png")
    with pytest.raises(DatasetError, match="unknown expression class name 'grumpy'.*Rename the folder"):
        read_image_folder(tmp_path / "folder")


def test_class_synonyms():
    assert class_id("Happy") == class_id("happiness") == 3
    assert class_id("Disgusted") == 2 and class_id("contempt") == 7
    with pytest.raises(ValueError, match="unknown expression class name"):
        class_id("boredom")


def test_corrupt_and_missing_images(tmp_path, caplog):
    _rafdb(tmp_path, ["train_00001.jpg 1", "train_00002.jpg 2", "train_00003.jpg 3"])
    (tmp_path / "Image" / "aligned" / "train_00002_aligned.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "Image" / "aligned" / "train_00003_aligned.jpg").unlink()
    recs = read_rafdb(tmp_path)
    imgs, kept = load_images(recs, 8, on_bad="skip")
    assert imgs.shape == (1, 3, 8, 8) and [r.key for r in kept] == ["train_00001"]
    assert "skipped 2 unreadable image(s) of 3" in caplog.text and "train_00002_aligned.jpg" in caplog.text
    with pytest.raises(DatasetError, match="cannot read image .*train_00002_aligned.jpg.*-S data.on_bad_image=skip"):
        load_images(recs, 8, on_bad="error")


def test_image_cache_roundtrip(tmp_path):
    _rafdb(tmp_path, ["train_00001.jpg 1", "train_00002.jpg 5"])
    recs = read_rafdb(tmp_path)
    a, _ = load_images(recs, 8, cache_dir=tmp_path / "c")
    b, kept = load_images(recs, 8, cache_dir=tmp_path / "c")
    assert len(list((tmp_path / "c").iterdir())) == 1 and np.array_equal(a.numpy(), b.numpy()) and len(kept) == 2


def test_cache_is_keyed_by_folder_and_file_contents(tmp_path):
    """Another folder with the same file names, or a changed image, never reuses a stale cache."""
    import os

    from PIL import Image

    src, copy = tmp_path / "a", tmp_path / "b"
    _rafdb(src, ["train_00001.jpg 1", "train_00002.jpg 5"])
    _rafdb(copy, ["train_00001.jpg 1", "train_00002.jpg 5"])
    for f in (copy / "Image" / "aligned").iterdir():  # the copy's images are all black
        Image.new("RGB", (12, 12)).save(f)
    cache = tmp_path / "cache"
    a, _ = load_images(read_rafdb(src), 8, cache_dir=cache)
    b, _ = load_images(read_rafdb(copy), 8, cache_dir=cache)
    assert a.float().mean() > 0 and b.float().mean() == 0
    # change one image of the first folder: its cached tensor is not reused
    img = src / "Image" / "aligned" / "train_00002_aligned.jpg"
    Image.new("RGB", (12, 12), (255, 255, 255)).save(img)
    os.utime(img, ns=(img.stat().st_atime_ns, img.stat().st_mtime_ns + 10**9))
    c, _ = load_images(read_rafdb(src), 8, cache_dir=cache)
    assert torch.equal(c[0], a[0]) and (c[1] == 255).all() and not torch.equal(c[1], a[1])
    # with on_bad=error a corrupt image in a folder whose names were cached is still found
    img.write_bytes(b"corrupt")
    with pytest.raises(DatasetError, match="train_00002_aligned.jpg"):
        load_images(read_rafdb(src), 8, cache_dir=cache, on_bad="error")
