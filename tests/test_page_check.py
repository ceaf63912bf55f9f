"""The page check: each glitch a reader met on a rendered page is caught, a clean page passes."""
import json

import pytest

from ssfer_study.stages import page_check


def _notebook(tmp_path, cells):
    nb = {"cells": [{"cell_type": "code", "source": src, "metadata": {"tags": tags}, "outputs": outs}
                    for src, tags, outs in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "page.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _md(text):
    return {"output_type": "display_data", "data": {"text/markdown": text, "text/plain": "<IPython.core.display.Markdown object>"}}


CLEAN = [("profile_file = 'x'", ["injected-parameters"], []),
         ("res.show(res.main)", [], [_md("| variant | acc |\n|:--|--:|\n| supervised | 63.8 ± 2.6 |\n| leaf | - |")]),
         ("display(fig)", [], [{"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure size 400x300 with 1 Axes>"}}])]


def test_a_clean_page_passes(tmp_path):
    assert page_check.problems(_notebook(tmp_path, CLEAN)) == []


@pytest.mark.parametrize("cell, what", [
    (("", [], []), "an empty code cell"),
    (("x", [], [_md("| share passed |\n|--:|\n| NaN |")]), "NaN"),
    (("x", [], [{"output_type": "execute_result", "data": {"text/plain": "         share passed\nleaf     nan  \n"}}]), "NaN"),
    (("x", [], [{"output_type": "execute_result", "data": {"text/plain": "PosixPath('data/lessons/lesson1.json')"}}]), "path repr"),
    (("x", [], [_md("| ('leaf', 'selected') | 0.5 |")]), "tuple"),
    (("x", [], [{"output_type": "stream", "name": "stdout", "text": f"{page_check.CLIPPED} a.png: 'long title'\n"}]), "title outside"),
])
def test_each_glitch_is_caught(tmp_path, cell, what):
    found = page_check.problems(_notebook(tmp_path, CLEAN + [cell]))
    assert len(found) == 1 and what in found[0] and found[0].startswith(f"cell {len(CLEAN)}:")


def test_words_holding_nan_are_not_a_nan(tmp_path):
    assert page_check.text_problems("Financial nanny NaNa: nothing here | 0.5 |") == []
    assert page_check.main([str(_notebook(tmp_path, CLEAN))]) == 0
