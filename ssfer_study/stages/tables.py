"""Collect finished runs into the study's tables and its metrics file.

Every table gives accuracy and balanced accuracy (EMA model, last and best evaluation) as mean and
std over seeds, next to the majority-class baseline of the evaluated set. SSL rows get the share
of unlabeled samples their own selection passed at the end of training (``pl_pass_rate_final``,
"share passed"), the accuracy of what passed against the hidden labels (``pl_pass_acc_final``,
"accuracy of what passes"), the step at which the first pseudo-label passed and the share passed
over the whole run (a row whose selection never passed one is labelled so: its unlabeled loss was
off, and its number is not the method's), and the share of the supervised-to-all-labels gap they close.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ssfer_study.stages import statistics

TAIL = 0.1  # "final" training statistics: the mean over the last 10 % of the logged steps
PASSED = {"pl_pass_rate": "share passed", "pl_pass_acc": "accuracy of what passes"}
"""The pseudo-labels a method trains on (``SELECTED``'s log keys), as every table and figure names them."""


def collect(runs_dir: str | Path, names) -> dict[str, dict]:
    """metrics.json of each finished run (unfinished runs are left out)."""
    out = {}
    for key in names:
        path = Path(runs_dir) / key / "metrics.json"
        if path.exists():
            out[key] = json.loads(path.read_text())
    return out


def train_series(runs_dir: str | Path, run: str, name: str) -> pd.DataFrame | None:
    """A dvclive training metric of one run as (step, value), or None if it was not logged."""
    path = Path(runs_dir) / run / "dvclive" / "plots" / "metrics" / "train" / f"{name}.tsv"
    if not path.exists():
        return None
    df = pd.read_csv(path, sep="\t")
    return df.rename(columns={name: "value"})[["step", "value"]]


def final_value(runs_dir, run: str, name: str) -> float:
    s = train_series(runs_dir, run, name)
    if s is None or s.empty:
        return float("nan")
    return float(s["value"].iloc[-max(1, int(len(s) * TAIL)):].mean())


def mean_value(runs_dir, run: str, name: str) -> float:
    """The mean of a logged training metric over the whole run (NaN if it was not logged)."""
    s = train_series(runs_dir, run, name)
    return float("nan") if s is None or s.empty else float(s["value"].mean())


NEVER = float("inf")
"""The first-pass step of a run whose selection passed no pseudo-label in all its training."""


def first_pass_step(runs_dir, run: str) -> float:
    """The step of the first logged window in which the run's selection passed a pseudo-label
    (``pl_pass_rate`` above 0), :data:`NEVER` if none did, NaN for a run without a selection."""
    s = train_series(runs_dir, run, "pl_pass_rate")
    if s is None or s.empty:
        return float("nan")
    passed = s[s["value"] > 0]
    return NEVER if passed.empty else float(passed["step"].iloc[0])


def engaged(first_pass: float) -> bool:
    """Whether a row's unlabeled loss engaged in every seed (a supervised row has nothing to engage)."""
    return not first_pass == NEVER


def evaluated(m: dict) -> dict:
    """The model a table reports: the EMA copy, or the live model of a run without one (SIT-FER's
    official recipe has no EMA)."""
    return m.get("ema") or m["raw"]


def majority_baseline(confusion: list[list[int]]) -> float:
    """Accuracy of always answering the most frequent class of the evaluated set."""
    rows = np.asarray(confusion).sum(1)
    return float(rows.max() / rows.sum())


def table_rows(runs: dict[str, dict], keys: list[str], runs_dir, variants: dict[str, str]) -> pd.DataFrame:
    """One row per variant (``variants``: run name -> its row, e.g. ``Run.variant``), numeric columns."""
    by_variant: dict[str, list[str]] = {}
    for k in keys:
        if k in runs:
            by_variant.setdefault(variants[k], []).append(k)
    rows = []
    for name, ks in by_variant.items():
        ms = [runs[k] for k in ks]
        row = {"variant": name, "method": ms[0]["method"], "seeds": len(ms),
               "labels/class": ms[0].get("labels_per_class"), "n_labeled": ms[0].get("n_labeled")}
        for when in ("last", "best"):
            for metric in ("acc", "bal_acc"):
                vals = [100 * evaluated(m)[when][metric] for m in ms]
                row[f"{metric}_{when}_mean"] = float(np.mean(vals))
                row[f"{metric}_{when}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        row["seed_list"] = [m["seed"] for m in ms]
        row["acc_per_seed"] = [round(100 * evaluated(m)["last"]["acc"], 2) for m in ms]
        row["bal_acc_per_seed"] = [round(100 * evaluated(m)["last"]["bal_acc"], 2) for m in ms]
        epochs = [evaluated(m)["best"].get("epoch") for m in ms]
        row["best_epoch"] = float(np.mean(epochs)) if None not in epochs else float("nan")
        row["majority_baseline"] = 100 * majority_baseline(evaluated(ms[0])["last"]["confusion"])
        row["protocol"] = ms[0].get("protocol", "shared")
        row["lr"] = ms[0].get("lr", float("nan"))
        row["optimizer"] = ms[0].get("optimizer", "")
        for key in PASSED:
            row[f"{key}_final"] = _mean_logged([final_value(runs_dir, k, key) for k in ks])
        row["pl_pass_rate_mean"] = _mean_logged([mean_value(runs_dir, k, "pl_pass_rate") for k in ks])
        firsts = [first_pass_step(runs_dir, k) for k in ks]
        row["first_pass_step"] = float("nan") if any(np.isnan(f) for f in firsts) else max(firsts)
        rows.append(row)
    return pd.DataFrame(rows)


def printed_difference(a: float, b: float) -> float:
    """``a - b`` as a reader checks it: the difference of the two numbers rounded as printed (one
    decimal), so that a table never shows 73.4 and 63.8 beside +9.5."""
    return round(round(a, 1) - round(b, 1), 1)


def paired_difference(runs: dict[str, dict], keys: list[str], reference_keys: list[str]) -> dict:
    """Last accuracy of ``keys`` minus that of ``reference_keys``, paired on the seed
    (:func:`statistics.paired`): the mean difference, the half-width of its 95 % interval (NaN with
    fewer than 2 pairs), the per-seed differences, the probability of winning on a random seed with
    its interval, the paired t-test's p, the seeds a ± 2-point interval would take, and the verdict.
    ``printed``: the mean as a table prints it beside the two means (:func:`printed_difference`)
    when every run of both sides is paired, so the mean difference is the difference of the means;
    the mean itself otherwise."""
    ref = {runs[k]["seed"]: 100 * evaluated(runs[k])["last"]["acc"] for k in reference_keys if k in runs}
    own = {runs[k]["seed"]: 100 * evaluated(runs[k])["last"]["acc"] for k in keys if k in runs}
    c = statistics.paired(own, ref)
    if not c.pairs:
        return {"mean": float("nan"), "ci95": float("nan"), "pairs": 0, "verdict": "-", "printed": float("nan"),
                "per_seed": [], "win": float("nan"), "win_ci": (float("nan"), float("nan")), "p": float("nan"),
                "seeds_needed": None}
    complete = c.pairs == len(own) == len(ref)
    printed = printed_difference(np.mean(list(own.values())), np.mean(list(ref.values()))) if complete else c.mean
    return {"mean": c.mean, "ci95": c.ci95, "pairs": c.pairs, "verdict": c.verdict(), "printed": printed,
            "per_seed": [round(d, 2) for d in c.diffs], "win": c.win, "win_ci": c.win_ci, "p": c.p,
            "seeds_needed": c.seeds_needed()}


def last_quarter_gain(curve: list[dict], steps: int | None = None, key: str = "ema_acc") -> float:
    """Accuracy (points) gained over the last quarter of training (``steps``; default: the last
    evaluation's step): the last evaluation minus the curve at 75 % of the steps, linearly
    interpolated between evaluations; NaN with a single evaluation. A run that has stopped learning
    gains about nothing; one still climbing gains more than the evaluation noise."""
    pts = [(c["step"], 100 * c[key if key in c else "raw_acc"]) for c in curve]
    if len(pts) < 2:
        return float("nan")
    steps = steps or pts[-1][0]
    xs, ys = zip(*pts)
    return float(ys[-1] - np.interp(0.75 * steps, xs, ys))


def evaluation_noise(acc: float, n: int) -> float:
    """95 % noise, in points, of the difference between two evaluations of accuracy ``acc`` (%) on
    ``n`` images, each binomial: 1.96 * sqrt(2 p (1 - p) / n). Two evaluations of one run share
    their images, so this overstates the noise a little: a gain under it is no evidence of learning."""
    p = acc / 100
    return float(100 * 1.96 * np.sqrt(2 * p * (1 - p) / n)) if n else float("nan")


def add_paired_to_supervised(df: pd.DataFrame, runs: dict[str, dict], keys: list[str],
                             variants: dict[str, str]) -> pd.DataFrame:
    """Each main-table row's paired difference to supervised (:func:`paired_difference`), its
    mean :func:`last_quarter_gain` over seeds and the :func:`evaluation_noise` that gain is read
    against (``still_learning``: the gain exceeds it)."""
    df = df.copy()
    sup = [k for k in keys if k in runs and runs[k]["method"] == "supervised"]
    cols: dict[str, list] = {"delta_vs_supervised_mean": [], "delta_vs_supervised_printed": [], "delta_vs_supervised_ci95": [],
                             "delta_vs_supervised_verdict": [], "delta_vs_supervised_win": [],
                             "delta_vs_supervised_seeds_for_2": [], "last_quarter_gain": [],
                             "last_quarter_noise95": [], "still_learning": []}
    for variant, acc in zip(df["variant"], df["acc_last_mean"]):
        own = [k for k in keys if k in runs and variants[k] == variant]
        p = paired_difference(runs, own, sup) if own and runs[own[0]]["method"] != "supervised" else \
            {"mean": float("nan"), "ci95": float("nan"), "verdict": "-", "printed": float("nan"), "win": float("nan"),
             "seeds_needed": None}
        cols["delta_vs_supervised_mean"].append(p["mean"])
        cols["delta_vs_supervised_printed"].append(p["printed"])
        cols["delta_vs_supervised_ci95"].append(p["ci95"])
        cols["delta_vs_supervised_verdict"].append(p["verdict"])
        cols["delta_vs_supervised_win"].append(p["win"])
        cols["delta_vs_supervised_seeds_for_2"].append(np.nan if p["seeds_needed"] is None else p["seeds_needed"])
        gain = float(np.mean([last_quarter_gain(runs[k]["curve"], runs[k].get("steps")) for k in own]))
        n = int(np.asarray(evaluated(runs[own[0]])["last"]["confusion"]).sum())
        noise = evaluation_noise(acc, n)
        cols["last_quarter_gain"].append(gain)
        cols["last_quarter_noise95"].append(noise)
        cols["still_learning"].append(bool(gain > noise))
    return df.assign(**cols)


def _mean_logged(values: list[float]) -> float:
    """Mean over the runs that logged the value; NaN (no warning) for methods that log none, such as
    supervised's pseudo-label columns."""
    logged = [v for v in values if v == v]
    return float(np.mean(logged)) if logged else float("nan")


def add_paired_to_pairs(df: pd.DataFrame, runs: dict[str, dict], keys: list[str], variants: dict[str, str],
                        pairs: dict[str, str]) -> pd.DataFrame:
    """Each row whose variant ``pairs`` names a partner (the profile's claims: better -> than) gets
    its paired difference to that partner (:func:`paired_difference`: per seed, the 95 % interval,
    the probability of winning on a seed, the verdict); other rows get '-'."""
    df = df.copy()
    cols: dict[str, list] = {"versus": [], "delta_vs_pair_printed": [], "delta_vs_pair_ci95": [],
                             "delta_vs_pair_verdict": [], "delta_vs_pair_win": [], "delta_vs_pair_per_seed": []}
    for variant in df["variant"]:
        partner = pairs.get(variant)
        own = [k for k in keys if k in runs and variants.get(k) == variant]
        ref = [k for k in keys if k in runs and variants.get(k) == partner]
        p = paired_difference(runs, own, ref) if partner and own and ref else {"pairs": 0}
        cols["versus"].append(partner or "")
        cols["delta_vs_pair_printed"].append(p["printed"] if p["pairs"] else float("nan"))
        cols["delta_vs_pair_ci95"].append(p["ci95"] if p["pairs"] else float("nan"))
        cols["delta_vs_pair_verdict"].append(p["verdict"] if p["pairs"] else "-")
        cols["delta_vs_pair_win"].append(p["win"] if p["pairs"] else float("nan"))
        cols["delta_vs_pair_per_seed"].append(p["per_seed"] if p["pairs"] else [])
    return df.assign(**cols)


def add_gap_closed(df: pd.DataFrame, supervised: float, ceiling: float) -> pd.DataFrame:
    """(method - supervised) / (all labels - supervised), on mean last accuracy."""
    df = df.copy()
    df["gap_closed"] = (df["acc_last_mean"] - supervised) / (ceiling - supervised) if ceiling > supervised else np.nan
    return df


def host(method: str) -> str:
    """The main-table method a side row is read against: its own, or a plug-in's host
    (``leaf+fixmatch`` -> ``fixmatch``)."""
    return method.split("+")[-1]


def against_reference(side: pd.DataFrame, main: pd.DataFrame, runs: dict[str, dict] | None = None,
                      keys: list[str] = (), main_keys: list[str] = (),
                      variants: dict[str, str] | None = None) -> pd.DataFrame:
    """An ablation or plug-in table read against the main table, by the rule of every comparison
    (:mod:`statistics`): each row minus its reference (the main-table row of :func:`host` of its
    method), paired on the seed. With two or more pairs, the mean paired difference, its 95 %
    interval (``noise``) and a verdict ``above`` / ``below`` (the interval excludes 0) or ``within
    noise``; with one pair, the difference on that seed and no verdict (``not decided (one seed)``),
    beside 2 standard deviations of the reference's seeds for scale. The reference rows come first,
    verdict ``reference``."""
    refs = main.set_index("method")
    hosts = [host(m) for m in side["method"]]
    reference = main[main["method"].isin(hosts)].assign(reference="", delta=np.nan, noise=np.nan,
                                                       verdict="reference", reading="")
    rows = side.copy()
    rows["reference"] = hosts
    delta, printed, noise, readings_verdict, reading = [], [], [], [], []
    for variant, h, m in zip(rows["variant"], hosts, rows["acc_last_mean"]):
        own = [k for k in keys if runs and k in runs and (variants or {}).get(k) == variant]
        ref_keys = [k for k in main_keys if runs and k in runs and host(runs[k]["method"]) == h]
        p = paired_difference(runs, own, ref_keys) if own and ref_keys else {"pairs": 0}
        spread = 2 * (refs.loc[h, "acc_last_std"] if h in refs.index else np.nan)
        if p["pairs"] >= 2:
            d, shown, n, how = p["mean"], p["printed"], p["ci95"], f"paired 95 % CI, {p['pairs']} seeds"
            says = "within noise" if abs(d) <= n else "above" if d > 0 else "below"
        elif p["pairs"] == 1:
            d, shown, n, how = p["mean"], round(p["mean"], 1), spread, "one seed, paired; 2 sd of the reference's seeds"
            says = statistics.ONE_SEED
        else:  # no seed in common: the reference's mean, for scale only
            ref_mean = refs.loc[h, "acc_last_mean"] if h in refs.index else np.nan
            d, n, how = m - ref_mean, spread, "unpaired; 2 sd of the reference's seeds"
            shown, says = printed_difference(m, ref_mean), statistics.ONE_SEED
        delta.append(d)
        printed.append(shown)
        noise.append(n)
        reading.append(how)
        readings_verdict.append("-" if np.isnan(d) else says)
    rows = rows.assign(delta=delta, printed=printed, noise=noise, verdict=readings_verdict, reading=reading)
    return pd.concat([reference, rows], ignore_index=True)


def claims(runs: dict[str, dict], variants: dict[str, str], paper_claims) -> pd.DataFrame:
    """Each of the profile's ``paper_claims`` (``Study.claims``) whose two variants the study ran,
    read as one family: better minus beaten, paired on the seed (:func:`paired_difference`), with
    the per-seed differences, the 95 % interval, the probability that the better variant wins on a
    random seed, the seeds a ± 2-point interval would take, and the verdict after Holm's correction
    over the claims with two or more pairs (:func:`statistics.holm`): ``shown`` / ``contradicted``
    when the adjusted p is under 0.05 (the difference pointing the claimed way, or the other),
    ``not shown`` otherwise, no verdict from one seed."""
    rows = []
    for c in paper_claims:
        a = [k for k in runs if variants.get(k) == c.better]
        b = [k for k in runs if variants.get(k) == c.than]
        if not a or not b:
            continue
        p = paired_difference(runs, a, b)
        rows.append({"claim": c.claim, "better": c.better, "than": c.than, "seeds": p["pairs"],
                     "difference": p["mean"], "printed": p["printed"], "ci95": p["ci95"], "per_seed": p["per_seed"],
                     "win": p["win"], "win_low": p["win_ci"][0], "win_high": p["win_ci"][1], "p": p["p"],
                     "seeds_for_2": p["seeds_needed"]})
    df = pd.DataFrame(rows, columns=["claim", "better", "than", "seeds", "difference", "printed", "ci95", "per_seed",
                                     "win", "win_low", "win_high", "p", "seeds_for_2"])
    df["p_holm"] = statistics.holm(df["p"].tolist())
    df["verdict"] = [statistics.family_verdict(d, q) for d, q in zip(df["difference"], df["p_holm"])]
    return df


def pretty_claims(df: pd.DataFrame) -> pd.DataFrame:
    def seeds_for(row) -> str:
        if row["seeds"] < 2:
            return "-"
        return f"{row['seeds_for_2']:.0f}" if row["seeds_for_2"] == row["seeds_for_2"] and row["seeds_for_2"] \
            else f"more than {statistics.MAX_SEEDS}"

    return pd.DataFrame({
        "claim": df["claim"], "seeds": df["seeds"],
        "per-seed difference": [", ".join(f"{d:+.1f}" for d in ds) for ds in df["per_seed"]],
        "difference (paired, 95 % CI)": [f"{d:+.1f}" if np.isnan(c) else f"{d:+.1f} ± {c:.1f}"
                                         for d, c in zip(df["printed"], df["ci95"])],
        "P(better wins a seed) [95 % CI]": [f"{w:.2f}" + ("" if np.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]")
                                            for w, lo, hi in zip(df["win"], df["win_low"], df["win_high"])],
        "Holm-adjusted p": df["p_holm"].map(lambda v: "-" if np.isnan(v) else f"{v:.3f}"),
        "seeds for ± 2": [seeds_for(r) for _, r in df.iterrows()],
        "verdict": df["verdict"]})


def pretty(df: pd.DataFrame) -> pd.DataFrame:
    """The table people read: 'mean ± std' strings, NaN as '-'."""
    def pm(m, s, n):
        return f"{m:.1f}" if n == 1 else f"{m:.1f} ± {s:.1f}"

    out = pd.DataFrame({"variant": df["variant"], "seeds": df["seeds"], "labels/class": df["labels/class"]})
    if "protocol" in df:
        out["protocol"] = df["protocol"]
        out["optimiser, lr"] = [f"{o} {lr:g}" for o, lr in zip(df["optimizer"], df["lr"])]
    for when in ("last", "best"):
        out[f"acc {when}"] = [pm(m, s, n) for m, s, n in zip(df[f"acc_{when}_mean"], df[f"acc_{when}_std"], df["seeds"])]
    if "best_epoch" in df:  # the releases report their best epoch: where it was
        out["best at epoch"] = df["best_epoch"].map(lambda v: "-" if np.isnan(v) else f"{v:.0f}")
    out["bal. acc last"] = [pm(m, s, n) for m, s, n in zip(df["bal_acc_last_mean"], df["bal_acc_last_std"], df["seeds"])]
    out["majority class"] = df["majority_baseline"].map("{:.1f}".format)
    for key, label in PASSED.items():
        out[f"{label} (final)"] = df[f"{key}_final"].map(lambda v: "-" if np.isnan(v) else f"{v:.2f}")
    if "first_pass_step" in df:  # when the unlabeled loss engaged, and how much it trained on
        out["first pass at step"] = df["first_pass_step"].map(
            lambda v: "-" if np.isnan(v) else "never: unlabeled loss off" if v == NEVER else f"{v:.0f}")
        out["share passed (mean over training)"] = df["pl_pass_rate_mean"].map(
            lambda v: "-" if np.isnan(v) else f"{v:.2f}")
    if "verdict" in df:
        out["vs reference (Δ, noise)"] = [
            "-" if np.isnan(d) else f"{d:+.1f} vs {r} (± {n:.1f}: {how})"
            for d, r, n, how in zip(df["printed"], df["reference"], df["noise"], df["reading"])]
        out["verdict"] = df["verdict"]
    if "versus" in df and any(df["versus"]):
        out["vs (paired, 95 % CI)"] = [
            "-" if not v or np.isnan(m) else f"{m:+.1f} ± {c:.1f} vs {v}: {how}" if not np.isnan(c) else f"{m:+.1f} vs {v}: {how}"
            for v, m, c, how in zip(df["versus"], df["delta_vs_pair_printed"], df["delta_vs_pair_ci95"],
                                    df["delta_vs_pair_verdict"])]
        out["P(beats it on a seed)"] = df["delta_vs_pair_win"].map(lambda v: "-" if np.isnan(v) else f"{v:.2f}")
        out["difference per seed"] = [", ".join(f"{d:+.1f}" for d in ds) or "-" for ds in df["delta_vs_pair_per_seed"]]
        out["accuracy per seed"] = [", ".join(f"{a:.1f}" for a in accs) for accs in df["acc_per_seed"]]
    if "gap_closed" in df:
        out["gap closed"] = df["gap_closed"].map(lambda v: "-" if np.isnan(v) else f"{v:.2f}")
    if "delta_vs_supervised_mean" in df:
        out["vs supervised (paired, 95 % CI)"] = [
            "-" if np.isnan(m) else f"{m:+.1f} ± {c:.1f}: {v}" if not np.isnan(c) else f"{m:+.1f}: {v}"
            for m, c, v in zip(df["delta_vs_supervised_printed"], df["delta_vs_supervised_ci95"],
                               df["delta_vs_supervised_verdict"])]
        out["P(beats supervised on a seed)"] = df["delta_vs_supervised_win"].map(lambda v: "-" if np.isnan(v) else f"{v:.2f}")
        out["seeds for ± 2"] = [
            "-" if np.isnan(m) or np.isnan(c) else f"{n:.0f}" if not np.isnan(n) else f"more than {statistics.MAX_SEEDS}"
            for m, c, n in zip(df["delta_vs_supervised_mean"], df["delta_vs_supervised_ci95"],
                               df["delta_vs_supervised_seeds_for_2"])]
        out["accuracy per seed"] = [", ".join(f"{a:.1f}" for a in accs) for accs in df["acc_per_seed"]]
        out["gain, last quarter (noise)"] = [
            "-" if np.isnan(g) else f"{g:+.1f} ({n:.1f}{', still learning' if still else ''})"
            for g, n, still in zip(df["last_quarter_gain"], df["last_quarter_noise95"], df["still_learning"])]
    return out


def metrics_json(main: pd.DataFrame, calibration: pd.DataFrame | None, dataset: str, profile: str,
                 protocol: str = "shared", claims_table: pd.DataFrame | None = None) -> dict:
    """Numbers, so `dvc metrics show/diff` can compare: main.<method>.<field>,
    calibration.<labels_per_class>.acc_mean and claims.<better>_vs_<than> (:func:`claims`);
    ``*_ci95`` are half-widths of paired 95 % intervals."""
    out: dict = {"dataset": dataset, "profile": profile, "protocol": protocol, "main": {}, "calibration": {}}
    fields = ("acc_last_mean", "acc_last_std", "bal_acc_last_mean", "pl_pass_rate_final", "pl_pass_acc_final",
              "gap_closed", "majority_baseline", "delta_vs_supervised_mean", "delta_vs_supervised_printed",
              "delta_vs_supervised_ci95", "delta_vs_supervised_win", "delta_vs_supervised_seeds_for_2",
              "last_quarter_gain", "last_quarter_noise95", "pl_pass_rate_mean")
    for _, r in main.iterrows():
        row = {f.replace("_last", ""): (None if pd.isna(r.get(f)) else round(float(r[f]), 4)) for f in fields
               if f in r}
        if "first_pass_step" in r and not pd.isna(r["first_pass_step"]):  # JSON has no infinity: null is "never"
            row["first_pass_step"] = None if r["first_pass_step"] == NEVER else int(r["first_pass_step"])
            row["unlabeled_loss_engaged"] = engaged(r["first_pass_step"])
        for f in ("seed_list", "acc_per_seed", "bal_acc_per_seed"):  # what `ssfer compare` reads a spread from
            if f in r:
                row[f.replace("_list", "s")] = list(r[f])
        out["main"][r["variant"]] = row
    if calibration is not None:
        for _, r in calibration.iterrows():
            out["calibration"][str(r["labels/class"])] = {"acc_mean": round(float(r["acc_last_mean"]), 4),
                                                          "acc_std": round(float(r["acc_last_std"]), 4)}
    if claims_table is not None and len(claims_table):
        def num(v, digits=4):
            return None if v is None or pd.isna(v) else round(float(v), digits)

        out["claims"] = {f"{r['better']}_vs_{r['than']}": {
            "difference": num(r["difference"]), "printed": num(r["printed"], 1), "ci95": num(r["ci95"]),
            "per_seed": list(r["per_seed"]), "win": num(r["win"]), "p_holm": num(r["p_holm"]),
            "seeds_for_2": None if pd.isna(r["seeds_for_2"]) else int(r["seeds_for_2"]),
            "seeds": int(r["seeds"]), "verdict": r["verdict"]} for _, r in claims_table.iterrows()}
    return out


def write_table(df: pd.DataFrame, stem: Path, dataset: str, profile: str) -> None:
    """``stem``.md (with the dataset and profile on top) and ``stem``.csv."""
    stem = Path(stem)
    stem.with_suffix(".md").write_text(f"Dataset: {dataset}, profile: {profile}\n\n" + df.to_markdown(index=False))
    df.to_csv(stem.with_suffix(".csv"), index=False)
