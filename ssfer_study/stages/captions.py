"""What the study's tables and figures are called: one title per table (a run group of the profile)
and one line under each figure saying what to see. The results notebook, its stage and the report
index all read them from here."""
from __future__ import annotations

TABLE_TITLES = {
    "main": "Main table",
    "claims": "The papers' claims, each a paired difference over seeds",
    "calibration": "Calibration: supervised accuracy by label budget",
    "official": "Official protocol: each method's released recipe at the study's budget",
    "head_control": "Head controls: supervised and FixMatch on the SIT-FER and LEAF heads",
    "sitfer_late_start": "SIT-FER late-start control: the unlabeled loss only from the instance level's switch-on",
    "sitfer_ablation": "SIT-FER ablation: without MSSL, without MIPG",
    "sitfer_level_sets": "SIT-FER pseudo-label levels: which levels fuse",
    "leaf_ablation": "LEAF ablation: without its semantic, its instance or its category level",
    "leaf_experts": "LEAF expert design: the release's tied expert against independent experts",
    "plugin": "LEAF's aggregation plugged into FixMatch and SIT-FER",
    "labels": "Accuracy by label budget: the main methods at 25, 50 and 100 labels per class",
}
"""Each table's title, by run group (``group`` in a profile's runs; ``claims`` is made from the
others), in the report's order."""
SIDE_GROUPS = ("official", "head_control", "sitfer_late_start")
"""Tables read beside the main table's seed-0 runs."""
ABLATION_GROUPS = ("sitfer_ablation", "sitfer_level_sets", "leaf_ablation", "leaf_experts", "plugin")
"""Tables read against the main table's mean and seed spread (``tables.against_reference``), each
with a bar chart ``ablation_<group>.png``."""

CAPTIONS = {
    "figures/contact_sheet.jpg": "SynthFACS faces by class: what the embedded dataset looks like.",
    "data_tour/realism.png": "A real-face FER2013 classifier's reading of SynthFACS: how face-like the classes look.",
    "data_tour/samples.png": "Random training faces per class.",
    "data_tour/class_distribution.png": "Class counts per split: the imbalance the majority-class baseline reflects.",
    "results/calibration.png": "Supervised accuracy grows with the label budget; the all-labels point is the ceiling "
                               "every table's 'gap closed' is read against.",
    "results/ablation_sitfer_ablation.png": "SIT-FER without MSSL and without MIPG against the main table's SIT-FER; "
                                            "hatched bars are within noise (paired 95 % interval, or 2 sd for one seed).",
    "results/ablation_sitfer_level_sets.png": "SIT-FER fusing fewer pseudo-label levels against the main table's "
                                              "SIT-FER (all three levels).",
    "results/ablation_leaf_ablation.png": "LEAF without one of its levels against the main table's LEAF; hatched "
                                          "bars are within noise (paired 95 % interval, or 2 sd for one seed).",
    "results/ablation_leaf_experts.png": "The release's tied expert against independent experts with learned gates "
                                         "(top-1 and dense): does routing, once it can matter, change accuracy?",
    "results/ablation_plugin.png": "LEAF's aggregation plugged into FixMatch and SIT-FER, against each host alone.",
    "results/accuracy_by_labels.png": "The figure semi-supervised papers lead with: accuracy against labels per "
                                      "class; hollow points are one seed.",
    "results/ssl_at_work.png": "How much of each unlabeled batch a method trains on, and how right those pseudo-labels are.",
    "results/accuracy_curves.png": "Accuracy at each evaluation, mean over seeds with the band from the lowest "
                                     "to the highest seed: a flat end is a method that has finished learning.",
    "analysis/umap_methods.png": "Each method's feature in 2-D, coloured by expression: tighter colour clusters read "
                                 "the expression more easily (10-NN accuracy in the titles).",
    "analysis/explorer_views.png": "Four views of the interactive explorer (explorer/umap_explorer.html), with its colours: "
                                   "the best-separated method's feature by expression, LEAF's relevant and agnostic instance "
                                   "components by expression and by identity, and where that method is right. Seed 0; a "
                                   "2-D UMAP keeps neighbourhoods, not distances.",
    "analysis/umap_components.png": "LEAF's relevant and agnostic instance components per expert design: decoupling "
                                    "would show the relevant one clustering by expression and the agnostic one by identity.",
    "analysis/gate_weights.png": "Mean gate weight per true class and expert: identical rows mean the gates ignore the "
                                 "expression; with the tied expert every choice gives the same output.",
}




def method_figure(method: str, name: str) -> str:
    """The file stem of a figure a method declares (``MethodDef.diagnostics``), e.g. ``sitfer_pl_levels``."""
    return f"{method.replace('+', '_plus_')}_{name}"


def method_captions() -> dict[str, str]:
    """Every registered method's declared figures and their captions, as :data:`CAPTIONS` keys them."""
    from ssfer_core.methods import METHODS

    return {f"results/{method_figure(m, f.name)}.png": f.caption for m, d in METHODS.items()
            for f in d.diagnostics.figures}


def all_captions() -> dict[str, str]:
    """:data:`CAPTIONS` with the methods' own figures after the results' (the report index's order)."""
    first = {k: v for k, v in CAPTIONS.items() if not k.startswith("analysis/")}
    return first | method_captions() | {k: v for k, v in CAPTIONS.items() if k.startswith("analysis/")}


def caption(path: str) -> str:
    """The caption of ``path`` (under ``reports/<profile>/``), in italics for Markdown."""
    text = all_captions().get(path)
    return f"*{text}*" if text else ""
