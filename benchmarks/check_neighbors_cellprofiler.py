"""Compare pyhcs.features.neighbors with the real CellProfiler 5's MeasureObjectNeighbors.

CellProfiler's module runs headless, in its own venv, in one subprocess: for every label image
and setting it gets an ObjectSet holding the labels as "Nuclei" (neighbours = the same
objects) and its ``run`` fills a Measurements object, whose seven Neighbors_* features are
returned. pyhcs computes the same with ``reference="cellprofiler"``. Prints, per setting, the
objects compared and the values that differ, bit for bit; the angle is compared only where
the second and third closest centres are not equidistant (CellProfiler takes that pair from
``numpy.argpartition``, whose choice among ties is unspecified), and the objects left out
are counted.

Run with the project's venv: ``python benchmarks/check_neighbors_cellprofiler.py``.
Skips (exit 0, one line) when CellProfiler is not installed.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
sys.path.insert(0, str(_HERE.parent / "tests"))
sys.path.insert(0, str(_HERE.parent / "tests" / "features"))
import cellprofiler_ref as cp

_DRIVER = textwrap.dedent(
    '''
    import sys
    import numpy as np
    import cellprofiler_core.preferences as prefs
    prefs.set_headless()
    from cellprofiler.modules.measureobjectneighbors import MeasureObjectNeighbors
    from cellprofiler_core.image import ImageSetList
    from cellprofiler_core.measurement import Measurements
    from cellprofiler_core.object import ObjectSet, Objects
    from cellprofiler_core.pipeline import Pipeline
    from cellprofiler_core.workspace import Workspace

    source, out, settings = sys.argv[1], sys.argv[2], sys.argv[3]
    images = np.load(source)
    results = {}
    for name in images.files:
        labels = images[name]
        for setting in settings.split(","):
            method, distance = setting.split(":")
            module = MeasureObjectNeighbors()
            module.set_module_num(1)
            module.object_name.value = "Nuclei"
            module.neighbors_name.value = "Nuclei"
            module.distance_method.value = method
            module.distance.value = int(distance)
            objects = Objects()
            objects.segmented = labels
            object_set = ObjectSet()
            object_set.add_objects(objects, "Nuclei")
            measurements = Measurements()
            image_sets = ImageSetList()
            pipeline = Pipeline()
            pipeline.add_module(module)
            workspace = Workspace(pipeline, module, image_sets.get_image_set(0), object_set,
                                  measurements, image_sets)
            module.run(workspace)
            for feature in measurements.get_feature_names("Nuclei"):
                if feature.startswith("Neighbors_"):
                    value = measurements.get_current_measurement("Nuclei", feature)
                    results[f"{name}|{setting}|{feature}"] = np.asarray(value, np.float64)
    np.savez(out, **results)
    '''
)

SETTINGS = [("adjacent", "Adjacent", 5), ("expand", "Expand until adjacent", 5)] + [
    ("within", "Within a specified distance", d) for d in (1, 2, 3, 5, 6, 8)]


def label_sets(seeds: int) -> dict[str, np.ndarray]:
    from cases import awkward_objects, disc_field, random_blobs, random_ellipses
    from test_neighbors import contiguous, holes_and_touching, lines_and_pieces

    images = {"awkward": contiguous(awkward_objects())}
    for seed in range(seeds):
        images[f"ellipses{seed}"] = contiguous(random_ellipses((60, 70), 30, seed, max_radius=10))
        images[f"discs{seed}"] = contiguous(disc_field((64, 64), 18, seed, (0.5, 8.0)))
        images[f"blobs{seed}"] = contiguous(random_blobs((64, 56), seed, threshold=0.5))
        images[f"lines{seed}"] = lines_and_pieces(seed)
        images[f"holes{seed}"] = holes_and_touching(seed)
    images["field512"] = contiguous(disc_field((512, 512), 300, 99, (3.0, 14.0)))
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    args = parser.parse_args(argv)
    if cp.skipped():
        return 0
    from scipy import ndimage as ndi
    from test_neighbors import sorted_distances

    from pyhcs.features.neighbors import FEATURES, neighbors

    images = label_sets(args.seeds)
    worst = 0
    settings = ",".join(f"{theirs}:{d}" for _, theirs, d in SETTINGS)
    reference = cp.run_driver(_DRIVER, images, settings, workdir=args.workdir)
    print(f"{'setting':<12} {'objects':>8} {'differing values':>17} {'angle ties skipped':>19}")
    for ours, theirs, distance in SETTINGS:
        scale = {"adjacent": "Adjacent", "expand": "Expanded"}.get(ours, str(distance))
        objects = differing = skipped = 0
        by_feature = {}  # feature: [values that differ, largest relative difference]
        for name, labels in images.items():
            table = neighbors(labels, method=ours, distance=distance)
            n = int(labels.max())
            objects += n
            tie_free = np.ones(n, bool)
            if n >= 4:
                centres = np.array(ndi.center_of_mass(np.ones(labels.shape), labels,
                                                      np.arange(1, n + 1)))
                _, dist = sorted_distances(centres, centres)
                tie_free = dist[:, 2] != dist[:, 3]
            skipped += int((~tie_free).sum())
            for feature in FEATURES:
                column = f"Neighbors_{feature}_{scale}"
                mine = table[column].to_numpy(np.float64)
                key = f"{name}|{theirs}:{distance}|{column}"
                if n == 0 and key not in reference:
                    continue
                cp_value = reference[key]
                if feature == "AngleBetweenNeighbors":
                    mine, cp_value = mine[tie_free], cp_value[tie_free]
                equal = (mine == cp_value) | (np.isnan(mine) & np.isnan(cp_value))
                differing += int((~equal).sum())
                if not equal.all():
                    by_feature.setdefault(feature, [0, 0.0])
                    by_feature[feature][0] += int((~equal).sum())
                    with np.errstate(invalid="ignore", divide="ignore"):
                        relative = np.abs(mine - cp_value) / np.maximum(
                            np.abs(mine), np.abs(cp_value))
                    by_feature[feature][1] = max(by_feature[feature][1],
                                                 float(np.nanmax(relative[~equal])))
        worst = max(worst, differing)
        label = scale if ours != "within" else f"within {distance}"
        detail = "; ".join(f"{feature}: {count} (relative <= {largest:.1e})"
                           for feature, (count, largest) in by_feature.items())
        print(f"{label:<12} {objects:>8} {differing:>17} {skipped:>19}  {detail}")
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
