"""Dense pixel classification: pyhcs.pixel.predict against the plain dense module and against
the patch classifier applied patch by patch.

Case 1 times whole-field inference (megapixels/s in the note) against ``to_dense(net)`` run
untiled as a plain torch module (dilated ``max_pool2d``, BatchNorm not folded). Case 2 classifies
every pixel of a crop both ways: dense (pyhcs.pixel.predict) and the patch net on every
``rf x rf`` patch, in batches; its note extrapolates the patch-by-patch time to the whole field
and compares it with case 1.
"""

from __future__ import annotations

import numpy as np
from harness import Case


def _model():
    from pyhcs.pixel import PatchNet, load_default

    try:
        return load_default(), "default nuclei model"
    except FileNotFoundError:  # not trained yet: the same architecture, random weights
        return PatchNet().eval(), "PatchNet() (random weights)"


class _Note:
    """Filled in after timing (the harness formats notes with str())."""

    def __init__(self, fn):
        self.fn = fn

    def __str__(self) -> str:
        try:
            return self.fn()
        except Exception:  # timings not filled in yet
            return ""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def cases(field, device: str) -> list[Case]:
    """``field`` is a pyhcs.datasets.SyntheticField (DNA channel first)."""
    import torch

    from pyhcs.pixel import predict, reflect_pad, to_dense
    from pyhcs.pixel._predict import normalize_images

    net, model_name = _model()
    image = field.image[0]
    height, width = image.shape
    rf, a = net.receptive_field, net.offset
    if device == "cuda":
        import cupy

        image_on = cupy.asarray(image)
    else:
        image_on = image

    dense = to_dense(net).to(device).eval()
    norm = normalize_images(torch.from_numpy(image.astype(np.float32))[None, None],
                            net.normalization).to(device)

    def plain_dense():
        with torch.inference_mode():
            out = torch.softmax(dense(norm), dim=1)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    def pyhcs_field():
        out = predict(net, image_on, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    # case 2: every pixel of a crop, dense versus patch by patch
    side = min(48, height, width)  # small: the patch-by-patch reference is slow
    crop = np.ascontiguousarray(image[:side, :side])
    crop_on = image_on[:side, :side]
    crop_norm = normalize_images(torch.from_numpy(crop.astype(np.float32))[None, None],
                                 net.normalization)
    padded = reflect_pad(crop_norm, a, rf - 1 - a, a, rf - 1 - a).to(device)
    patch_net = dense.patch_net  # same weights, on the device

    def patch_by_patch():
        windows = padded.unfold(2, rf, 1).unfold(3, rf, 1)  # (1, C, side, side, rf, rf) view
        out = torch.empty((side * side, net.n_classes), device=device)
        rows_per_batch = max(1, 2048 // side)
        with torch.inference_mode():
            for r in range(0, side, rows_per_batch):
                chunk = windows[0, :, r : r + rows_per_batch]  # (C, rows, side, rf, rf)
                batch = chunk.permute(1, 2, 0, 3, 4).reshape(-1, net.in_channels, rf, rf)
                out[r * side : r * side + batch.shape[0]] = torch.softmax(patch_net(batch), 1)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    def pyhcs_crop():
        out = predict(net, crop_on, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    megapixels = height * width / 1e6
    field_case = Case(
        family="pixel",
        name=f"predict {height}x{width} uint16, rf {rf}",
        pyhcs=pyhcs_field,
        reference=plain_dense,
        reference_name="to_dense module, untiled",
        device=device,
        repeat=3,
        warmup=1,
    )
    field_case.note = _Note(lambda: (
        f"{model_name}: {megapixels / field_case.pyhcs_s:.2f} megapixels/s "
        f"({field_case.pyhcs_s:.2f} s per field) on {device}, threads={torch.get_num_threads()}"
    ))
    crop_case = Case(
        family="pixel",
        name=f"every pixel of a {side}x{side} crop, dense vs patches",
        pyhcs=pyhcs_crop,
        reference=patch_by_patch,
        reference_name="patch net, batched patches",
        device=device,
        repeat=3,
        warmup=1,
    )

    def extrapolated() -> str:
        per_pixel = crop_case.reference_s / (side * side)
        full = per_pixel * height * width
        if full != full:
            return ""
        return (f"patch by patch extrapolated to {height}x{width}: {full:.1f} s, "
                f"{full / field_case.pyhcs_s:.0f}x the dense field time")

    crop_case.note = _Note(extrapolated)
    return [field_case, crop_case]
