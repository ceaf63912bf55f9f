"""Expand a profile's compact study spec into the run list DVC iterates over.

A profile names its main ``methods`` and ``seeds``; ``ablations: true`` adds SIT-FER's MSSL/MIPG
and single-level rows, LEAF's level and gating rows, and the plug-in rows (on ``ablation_seeds``).
Each run: {method, seed, group, set} where ``set`` holds extra ``key=value`` overrides.
"""
from __future__ import annotations

import copy

SITFER_ABLATIONS = {
    "sitfer_mssl_off": "sitfer.mssl=false",
    "sitfer_mipg_off": "sitfer.mipg=false",
    "sitfer_both_off": "sitfer.mssl=false sitfer.mipg=false",
    "sitfer_semantic_only": "sitfer.use_text=false sitfer.use_instance=false",
    "sitfer_text_only": "sitfer.use_semantic=false sitfer.use_instance=false",
    "sitfer_instance_only": "sitfer.use_semantic=false sitfer.use_text=false",
}
LEAF_ABLATIONS = {
    "leaf_no_semantic": "leaf.semantic=false",
    "leaf_no_instance": "leaf.instance=false",
    "leaf_no_category": "leaf.category=false",
    "leaf_dense_gates": "net.gating=dense",
}
# Beyond the papers' ablations; on in `smoke`, off in `default` to keep it well under 30 minutes.
EXTRA_ABLATIONS = {"leaf_map_semantic": ("leaf", "net.semantic_moe=map")}
PLUGINS = ("leaf+fixmatch", "leaf+sitfer")


def expand_runs(spec: dict) -> dict[str, dict]:
    runs = {}
    for m in spec.get("methods", []):
        for s in spec.get("seeds", [0]):
            runs[f"{m}_s{s}"] = {"method": m, "seed": s, "group": "main", "set": ""}
    if spec.get("ablations", False):
        for s in spec.get("ablation_seeds", [0]):
            for name, sets in SITFER_ABLATIONS.items():
                runs[f"{name}_s{s}"] = {"method": "sitfer", "seed": s, "group": "sitfer_ablation", "set": sets}
            for name, sets in LEAF_ABLATIONS.items():
                runs[f"{name}_s{s}"] = {"method": "leaf", "seed": s, "group": "leaf_ablation", "set": sets}
            if spec.get("extra_ablations", False):
                for name, (method, sets) in EXTRA_ABLATIONS.items():
                    runs[f"{name}_s{s}"] = {"method": method, "seed": s, "group": "leaf_ablation", "set": sets}
            for m in PLUGINS:
                runs[f"{m.replace('+', '_plus_')}_s{s}"] = {"method": m, "seed": s, "group": "plugin", "set": ""}
    return runs


def activate(params: dict, name: str) -> dict:
    """Return params with ``profile`` = name and ``active`` = the profile, runs expanded."""
    profiles = params.get("profiles", {})
    if name not in profiles:
        raise KeyError(f"unknown profile {name!r}; known: {sorted(profiles)}")
    prof = copy.deepcopy(profiles[name])  # no shared objects: YAML would write anchors
    active = {"synth": prof["synth"], "pretrain": prof.get("pretrain", {}), "train": prof.get("train", {}),
              "analysis": prof.get("analysis", {}),
              "runs": expand_runs(prof.get("study", {}))}
    return {"profile": name, "active": active, "profiles": profiles}
