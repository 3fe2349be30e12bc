"""Compare pyhcs.illumination with the real CellProfiler 5 (headless) on synthetic fields.

CellProfiler runs CorrectIlluminationCalculate (Regular, All images, the chosen smoothing
and filter size, rescale) -> CorrectIlluminationApply (divide, both truncations) and saves
the illumination function (last cycle, when it holds every image) and the corrected images as
32-bit float TIFFs. pyhcs computes the same from the same uint16 files (``x / 65535`` in
float32, as CellProfiler loads them). Prints, per setting, the max abs / rel difference and
the count of unequal pixels of the function and of the last field's corrected image.

Run with the project's venv: ``python benchmarks/check_illumination_cellprofiler.py``.
Skips (exit 0, one line) when CellProfiler is not installed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cellprofiler_ref as cp  # noqa: E402

_BUILDER = textwrap.dedent(
    '''
    import sys
    import cellprofiler_core.preferences as prefs
    prefs.set_headless()
    from cellprofiler_core.pipeline import Pipeline
    from cellprofiler_core.utilities.core.modules import fill_modules, instantiate_module
    fill_modules()
    smoothing, size_method, size, rescale, out = sys.argv[1:6]
    modules = []
    def add(name):
        m = instantiate_module(name)
        m.set_module_num(len(modules) + 1)
        modules.append(m)
        return m
    m = add("Images"); m.filter_choice.value = "Images only"
    add("Metadata")
    m = add("NamesAndTypes")
    m.assignment_method.value = "All images"
    m.single_load_as_choice.value = "Grayscale image"
    m.single_image_provider.value = "DNA"
    m.single_rescale_method.value = "Image bit-depth"
    add("Groups")
    m = add("CorrectIlluminationCalculate")
    m.image_name.value = "DNA"
    m.illumination_image_name.value = "IllumDNA"
    m.intensity_choice.value = "Regular"
    m.each_or_all.value = "All"
    m.smoothing_method.value = smoothing
    m.automatic_object_width.value = size_method
    m.size_of_smoothing_filter.value = int(size)
    m.object_width.value = int(size)
    m.rescale_option.value = rescale
    m.dilate_objects.value = False
    m = add("CorrectIlluminationApply")
    m.images[0].image_name.value = "DNA"
    m.images[0].corrected_image_name.value = "CorrDNA"
    m.images[0].illum_correct_function_image_name.value = "IllumDNA"
    m.images[0].divide_or_subtract.value = "Divide"
    for name, when in (("IllumDNA", "Last cycle"), ("CorrDNA", "Every cycle")):
        s = add("SaveImages")
        s.save_image_or_figure.value = "Image"
        s.image_name.value = name
        s.file_name_method.value = "From image filename"
        s.file_image_name.value = "DNA"
        s.wants_file_name_suffix.value = True
        s.file_name_suffix.value = "_" + name
        s.file_format.value = "tiff"
        s.bit_depth.value = "32-bit floating point"
        s.tiff_compress.value = False
        s.pathname.value = "Default Output Folder|"
        s.overwrite.value = True
        s.when_to_save.value = when
        s.update_file_names.value = False
        s.create_subdirectories.value = False
    p = Pipeline()
    for mod in modules:
        p.add_module(mod)
    with open(out, "w") as fd:
        p.dump(fd)
    '''
)

SETTINGS = [
    # (smoothing, CellProfiler size method, size, rescale)
    ("Median Filter", "Automatic", 10, "Yes"),
    ("Median Filter", "Manually", 20, "Yes"),
    ("Median Filter", "Manually", 12, "Median"),
    ("Gaussian Filter", "Manually", 15, "Yes"),
    ("No smoothing", "Automatic", 10, "Yes"),
]


def synthetic_fields(n: int, shape: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    vignette = np.exp(-((yy - shape[0] * 0.45) ** 2 + (xx - shape[1] * 0.55) ** 2)
                      / (0.5 * shape[0] * shape[1]))
    fields = []
    for _ in range(n):
        base = 600 + 4000 * vignette + rng.normal(0, 150, shape)
        cells = rng.random(shape) > 0.997
        base += 15000 * cells
        fields.append(np.clip(base, 0, 65535).astype(np.uint16))
    return fields


def _diff(ours: np.ndarray, theirs: np.ndarray) -> str:
    ours = ours.astype(np.float64)
    theirs = theirs.astype(np.float64)
    abs_diff = np.abs(ours - theirs)
    rel = abs_diff / np.maximum(np.abs(theirs), 1e-30)
    return (f"max abs {abs_diff.max():.3g}, max rel {rel.max():.3g}, "
            f"unequal {int((ours != theirs).sum())}/{ours.size}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=4)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 320))
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    args = parser.parse_args(argv)
    if cp.skipped():
        return 0
    import tifffile

    from pyhcs.illumination import calculate_illumination, correct_illumination

    fields = synthetic_fields(args.fields, tuple(args.size))
    worst = 0
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        inputs = tmp / "in"
        inputs.mkdir()
        names = [f"f{k:02d}" for k in range(len(fields))]
        for name, field in zip(names, fields):
            tifffile.imwrite(inputs / f"{name}_DNA.tif", field, photometric="minisblack")
        builder = tmp / "build.py"
        builder.write_text(_BUILDER)
        scaled = [f.astype(np.float32) / np.float32(65535) for f in fields]
        for k, (smoothing, size_method, size, rescale) in enumerate(SETTINGS):
            pipe = tmp / f"illum{k}.cppipe"
            subprocess.run([str(cp._cp_python()), str(builder), smoothing, size_method,
                            str(size), rescale, str(pipe)], check=True, env=cp._cp_env(),
                           capture_output=True)
            out = tmp / f"out{k}"
            out.mkdir()
            result = subprocess.run(
                [str(cp._cp_python()), "-m", "cellprofiler", "-c", "-r", "-p", str(pipe),
                 "-i", str(inputs), "-o", str(out), "-e", "imageio_reader"],
                env=cp._cp_env(), capture_output=True, text=True,
            )
            if result.returncode != 0:
                print(f"{smoothing}/{size_method}/{size}/{rescale}: CellProfiler failed\n"
                      + result.stderr[-2000:])
                worst = max(worst, 2)
                continue
            found = sorted(p.name for p in out.iterdir())
            if f"{names[-1]}_DNA_IllumDNA.tiff" not in found:
                print("CellProfiler wrote", found, result.stderr[-3000:])
                return 2
            theirs = tifffile.imread(out / f"{names[-1]}_DNA_IllumDNA.tiff")
            filter_size = {"Automatic": "automatic", "Manually": size,
                           "Object size": "object size"}[size_method]
            smooth = {"Median Filter": "median", "Gaussian Filter": "gaussian",
                      "No smoothing": "none"}[smoothing]
            label = f"{smoothing:15s} {size_method:9s} {size:3d} rescale={rescale:6s}"
            # "All" accumulates across cycles: cycle k applies the function of fields 0..k
            same = True
            for cycle in range(len(fields)):
                ours = calculate_illumination(scaled[: cycle + 1], smoothing=smooth,
                                              filter_size=filter_size, object_width=size,
                                              rescale=rescale.lower())
                corrected_theirs = tifffile.imread(out / f"{names[cycle]}_DNA_CorrDNA.tiff")
                # SaveImages "32-bit floating point" stores float64 results as float32
                corrected = correct_illumination(scaled[cycle], ours).astype(
                    corrected_theirs.dtype)
                same &= np.array_equal(corrected, corrected_theirs)
                if cycle == len(fields) - 1:
                    same &= np.array_equal(ours.astype(theirs.dtype), theirs)
                    print(f"{label} function ({theirs.dtype} TIFF, ours {ours.dtype}): "
                          f"{_diff(ours.astype(theirs.dtype), theirs)}")
                print(f"{label} corrected field {cycle}: {_diff(corrected, corrected_theirs)}")
            worst = max(worst, 0 if same else 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
