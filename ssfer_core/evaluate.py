"""Classification metrics: accuracy, balanced (mean-class) accuracy, macro-F1, confusion matrix,
expected calibration error; and batched prediction over an in-memory image tensor."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ssfer_core.data.views import normalize, test_view


def confusion_matrix(pred: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    return np.bincount(true * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def expected_calibration_error(probs: np.ndarray, true: np.ndarray, bins: int = 15) -> float:
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs((pred[sel] == true[sel]).mean() - conf[sel].mean())
    return float(ece)


def classification_metrics(probs: np.ndarray, true: np.ndarray, num_classes: int) -> dict:
    pred = probs.argmax(1)
    cm = confusion_matrix(pred, true, num_classes)
    support = cm.sum(1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(num_classes), where=support > 0)
    precision = np.divide(np.diag(cm), cm.sum(0), out=np.zeros(num_classes), where=cm.sum(0) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(num_classes),
                   where=(precision + recall) > 0)
    present = support > 0
    return {"acc": float((pred == true).mean()), "bal_acc": float(recall[present].mean()),
            "macro_f1": float(f1[present].mean()), "ece": expected_calibration_error(probs, true),
            "confusion": cm.tolist()}


@torch.no_grad()
def predict_probs(predict: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                  batch: int = 512, device: str | torch.device = "cpu") -> np.ndarray:
    out = []
    for i in range(0, images.shape[0], batch):
        x = normalize(test_view(images[i : i + batch].to(device)))
        out.append(predict(x).float().cpu())
    return torch.cat(out).numpy()


def evaluate(predict, images, labels, num_classes: int, batch: int = 512, device="cpu") -> dict:
    probs = predict_probs(predict, images, batch, device)
    return classification_metrics(probs, labels.numpy(), num_classes)
