"""Train the default nuclei model shipped as ``pyhcs/pixel/models/nuclei_default.pt``.

``python benchmarks/train_default_nuclei.py [--iterations N] [--out PATH] [--threads T]``

Reproducible: the training fields, their phenotype and imaging parameters, the initial weights,
the sampling and the augmentation all derive from ``--seed`` (default 0); on the same torch
version, device and thread count the weights are identical.

Data: ``--fields`` domain-randomised fields (:func:`pyhcs.datasets.randomized.random_field`,
DNA channel, a quarter of them 8-bit) whose phenotype (nucleus size, shape, clustering,
chromatin texture, brightness, mitotic and apoptotic nuclei, debris) and imaging (background,
camera offset, illumination falloff, gain / shot noise, read noise, blur, defocus,
bleed-through) are drawn per field from the *training* ranges of
:data:`pyhcs.datasets.randomized.FACTORS`, and their three-class targets (:func:`pyhcs.pixel.nuclei_targets`:
background, interior, 1-pixel boundary). The model (:class:`pyhcs.pixel.PatchNet` defaults:
width 8, two pools, rf 32) is trained in dense mode on crops with class-balanced loss, flips and
rotations. Then the seed threshold of :func:`pyhcs.pixel.probabilities_to_labels`
(``interior_threshold``) is chosen on validation fields (seed + 2000), and the model is evaluated
on fields drawn with other seeds from the training ranges (seed + 1000), and, through
``identify_primary(method="fcn", diameter="auto")``, on fields with each factor in its
*held-out* range (``benchmarks/check_held_out.py``): F1 at IoU 0.5 of the labels against the
ground-truth nuclei. The threshold, the F1s and the arguments are stored in the model's
metadata. Nuclei outside the training radii reach the model zoomed into them (its
``nucleus_diameter_range``), so the training fields need not span every scale.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def training_radii() -> tuple[float, float]:
    """Nucleus radii of the training fields (pixels), saved as the model's
    ``nucleus_diameter_range`` (doubled), into which ``identify_primary(method="fcn",
    diameter=...)`` zooms images."""
    from pyhcs.datasets.randomized import FACTORS

    return FACTORS["radius"][0]


def make_fields(n: int, shape: tuple[int, int], seed: int, held_out=()):
    """``n`` domain-randomised fields (training ranges unless ``held_out`` names factors)."""
    from pyhcs.datasets import derive_seed
    from pyhcs.datasets.randomized import random_field

    return [random_field(derive_seed(seed, i), shape, held_out) for i in range(n)]


def f1_at_iou(truth: np.ndarray, pred: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int]:
    """(true positives, number of true objects, number of predicted objects) at IoU > threshold.

    With IoU > 0.5 a match is necessarily unique on both sides.
    """
    n_true, n_pred = int(truth.max()), int(pred.max())
    if n_true == 0 or n_pred == 0:
        return 0, len(np.unique(truth)) - 1, len(np.unique(pred)) - 1
    area_t = np.bincount(truth.ravel(), minlength=n_true + 1)
    area_p = np.bincount(pred.ravel(), minlength=n_pred + 1)
    both = (truth > 0) & (pred > 0)
    pairs = truth[both].astype(np.int64) * (n_pred + 1) + pred[both]
    keys, inter = np.unique(pairs, return_counts=True)
    t, p = keys // (n_pred + 1), keys % (n_pred + 1)
    iou = inter / (area_t[t] + area_p[p] - inter)
    tp = int((iou > threshold).sum())
    return tp, int((area_t[1:] > 0).sum()), int((area_p[1:] > 0).sum())


def evaluate(net, fields, interior_threshold: float = 0.8, probs=None) -> dict:
    from pyhcs.pixel import predict, probabilities_to_labels

    tp = nt = npred = 0
    per_field = []
    for i, f in enumerate(fields):
        prob = predict(net, f.dna, device="cpu") if probs is None else probs[i]
        labels = probabilities_to_labels(prob, interior_threshold=interior_threshold)
        a, b, c = f1_at_iou(f.field.nuclei, labels)
        tp, nt, npred = tp + a, nt + b, npred + c
        per_field.append(2 * a / max(b + c, 1))
    return {"f1": 2 * tp / max(nt + npred, 1), "true_positives": tp, "n_true": nt,
            "n_pred": npred, "per_field_f1": per_field}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fields", type=int, default=48)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=3500)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--head-width", type=int, default=16)
    parser.add_argument("--receptive-field", type=int, default=32)
    parser.add_argument("--boundary-width", type=int, default=1)
    parser.add_argument("--n-pools", type=int, default=2)
    parser.add_argument("--convs-per-stage", type=int, default=2)
    parser.add_argument("--eval-fields", type=int, default=8)
    parser.add_argument("--eval-size", type=int, default=384)
    parser.add_argument("--held-out-fields", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "pyhcs" / "pixel" / "models" /
                                             "nuclei_default.pt"))
    parser.add_argument("--checkpoint", default=None)
    args = parser.parse_args(argv)

    import torch

    from pyhcs.pixel import NUCLEI_CLASSES, nuclei_targets, save, train

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    fields = make_fields(args.fields, (args.size, args.size), args.seed)
    held_out = make_fields(args.eval_fields, (args.eval_size, args.eval_size), args.seed + 1000)
    validation = make_fields(args.eval_fields, (args.eval_size, args.eval_size),
                             args.seed + 2000)
    print(f"{len(fields)} training fields, {len(held_out)} held-out and {len(validation)} "
          f"validation fields in "
          f"{time.perf_counter() - start:.1f} s", flush=True)

    images = [f.dna for f in fields]
    targets = [nuclei_targets(f.field.nuclei, args.boundary_width) for f in fields]
    start = time.perf_counter()
    net = train(images, targets, mode="dense", iterations=args.iterations,
                batch_size=args.batch_size, crop=args.crop, lr=args.lr, seed=args.seed,
                device=args.device, checkpoint=args.checkpoint, in_channels=1,
                n_classes=len(NUCLEI_CLASSES), width=args.width, head_width=args.head_width,
                receptive_field=args.receptive_field, n_pools=args.n_pools,
                convs_per_stage=args.convs_per_stage)
    train_s = time.perf_counter() - start
    losses = net.history["loss"]
    print(f"trained {args.iterations} iterations in {train_s:.0f} s; loss "
          f"{np.mean(losses[:50]):.4f} -> {np.mean(losses[-50:]):.4f}", flush=True)

    # the seed threshold of probabilities_to_labels, chosen on the validation fields only
    from pyhcs.pixel import predict

    val_probs = [predict(net, f.dna, device="cpu") for f in validation]
    scores = {t: evaluate(net, validation, t, val_probs)["f1"] for t in (0.5, 0.6, 0.7, 0.8, 0.9)}
    threshold = max(scores, key=scores.get)
    print("validation F1 by interior_threshold: "
          + ", ".join(f"{t}: {v:.4f}" for t, v in scores.items()), flush=True)
    report = evaluate(net, held_out, threshold)
    net.metadata = {**(getattr(net, "metadata", {}) or {}), "interior_threshold": threshold,
                    "nucleus_diameter_range": [2 * r for r in training_radii()]}
    from check_held_out import score
    from pyhcs.datasets.randomized import FACTORS

    held_out_factors = {}
    for k, factor in enumerate(FACTORS):
        f1 = score((factor,), args.held_out_fields, args.eval_size, args.seed + 50_000 + 1000 * k,
                   model=net, methods={"fcn": {"method": "fcn", "diameter": "auto"}})["fcn"]
        held_out_factors[factor] = round(f1, 4)
        print(f"held-out {factor}: F1 {f1:.4f}", flush=True)
    print(f"held-out F1 at IoU 0.5 (interior_threshold {threshold}): {report['f1']:.4f} ({report['true_positives']} TP, "
          f"{report['n_true']} true, {report['n_pred']} predicted); per field "
          + " ".join(f"{v:.3f}" for v in report["per_field_f1"]), flush=True)
    save(net, args.out, classes=list(NUCLEI_CLASSES), channels=["DNA"],
         trained_by="benchmarks/train_default_nuclei.py",
         training=json.dumps({k: v for k, v in vars(args).items() if k not in ("out",
                                                                               "checkpoint")}),
         held_out_f1=float(report["f1"]), interior_threshold=float(threshold),
         held_out_factor_f1=held_out_factors,
         nucleus_diameter_range=[2 * r for r in training_radii()])
    print(f"saved {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
