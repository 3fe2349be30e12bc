"""pyhcs.pixel: dense == patch identity, tiling, training, save/load, post-processing, errors."""

import numpy as np
import pytest
import torch

from pyhcs._backend import CudaUnavailableError, cuda_available
from pyhcs.pixel import (
    DenseNet,
    PatchNet,
    load,
    load_default,
    nuclei_targets,
    predict,
    probabilities_to_labels,
    reflect_indices,
    reflect_pad,
    save,
    to_dense,
    train,
)
from pyhcs.pixel._predict import normalize_images

ARCHITECTURES = [
    dict(),  # the default nuclei architecture: rf 32 (even)
    dict(in_channels=2, receptive_field=28, width=4),  # even rf, 4x4 final conv
    dict(receptive_field=5, width=3, n_pools=0),  # no pooling
    dict(receptive_field=21, width=3, n_pools=1, convs_per_stage=1, kernel_size=4, n_classes=4),
    dict(in_channels=3, receptive_field=38, width=4, n_pools=3, convs_per_stage=1),  # dilation 8
    dict(receptive_field=16, width=2, n_pools=3, convs_per_stage=0, head_width=5),  # pools only
]


def randomize(net: PatchNet, seed: int) -> PatchNet:
    """Random weights and random batch-norm statistics, eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) * 2 + 0.3)
    return net.eval()


def patch_reference(net: PatchNet, image: np.ndarray, pixels) -> np.ndarray:
    """patch_net on the rf x rf patch of the numpy-reflect-padded image at each (y, x)."""
    rf, a = net.receptive_field, net.offset
    padded = np.pad(image, ((0, 0), (0, 0), (a, rf - 1 - a), (a, rf - 1 - a)), mode="reflect")
    patches = np.stack([padded[:, :, y : y + rf, x : x + rf] for y, x in pixels], axis=1)
    b, n = patches.shape[:2]
    with torch.no_grad():
        out = net(torch.from_numpy(patches.reshape(b * n, *patches.shape[2:])))
    return out.numpy().reshape(b, n, -1)


def pixels_to_check(h, w, rng, n=40):
    corners = [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 2, w // 2)]
    if h * w <= 64:
        return [(y, x) for y in range(h) for x in range(w)]
    rand = [(int(rng.integers(h)), int(rng.integers(w))) for _ in range(n)]
    edges = [(0, int(rng.integers(w))), (h - 1, int(rng.integers(w))),
             (int(rng.integers(h)), 0), (int(rng.integers(h)), w - 1)]
    return corners + edges + rand


def assert_close(got, ref, rtol=1e-5):
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() <= rtol * scale, (np.abs(got - ref).max(), scale)


@pytest.mark.parametrize("arch", range(len(ARCHITECTURES)))
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 8), (31, 17), (64, 45)])
def test_dense_equals_patch_net_at_every_checked_pixel(arch, shape):
    net = randomize(PatchNet(**ARCHITECTURES[arch]), seed=arch)
    rng = np.random.default_rng(arch * 100 + shape[0])
    image = rng.normal(size=(2, net.in_channels, *shape)).astype(np.float32)
    dense = to_dense(net)
    with torch.no_grad():
        out = dense(torch.from_numpy(image)).numpy()
    assert out.shape == (2, net.n_classes, *shape)
    pixels = pixels_to_check(*shape, rng)
    ref = patch_reference(net, image, pixels)
    got = np.stack([out[:, :, y, x] for y, x in pixels], axis=1)
    assert_close(got, ref)


def test_receptive_field_formula_and_offsets():
    for kwargs in ARCHITECTURES:
        net = PatchNet(**kwargs)
        rf = 1 + sum((k - 1) * d for k, d in _layer_kernels(net))
        assert rf == net.receptive_field and net.offset == (rf - 1) // 2


def _layer_kernels(net):
    for kind, index, d in net.plan:
        yield (2, d) if kind == "pool" else (net.features[index].kernel_size[0], d)


def test_to_dense_copies_weights():
    net = randomize(PatchNet(width=4), 1)
    dense = to_dense(net)
    with torch.no_grad():
        net.classifier.bias.add_(1.0)
    assert not torch.equal(dense.patch_net.classifier.bias, net.classifier.bias)
    assert isinstance(dense, DenseNet) and dense.receptive_field == net.receptive_field


@pytest.mark.parametrize("n", [1, 2, 3, 7])
@pytest.mark.parametrize("pads", [(0, 0), (3, 1), (20, 31)])
def test_reflect_pad_matches_numpy_for_any_pad_width(n, pads):
    x = np.arange(n * 2, dtype=np.float32).reshape(1, 1, 2, n)
    expected = np.pad(x, ((0, 0), (0, 0), (0, 0), pads), mode="reflect")
    assert reflect_indices(n, *pads).tolist() == np.pad(np.arange(n), pads, "reflect").tolist()
    got = reflect_pad(torch.from_numpy(x), 0, 0, *pads).numpy()
    np.testing.assert_array_equal(got, expected)


def test_predict_matches_patch_softmax_and_tiling_is_invisible():
    net = randomize(PatchNet(in_channels=2, receptive_field=28, width=4), 3)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 5000, size=(2, 45, 70)).astype(np.uint16)
    whole = predict(net, image, device="cpu")
    assert whole.shape == (3, 45, 70) and whole.dtype == np.float32
    for tile, batch in [(16, 1), (13, 3), (64, 2), (1000, 1)]:
        tiled = predict(net, image, device="cpu", tile=tile, batch_size=batch)
        assert_close(tiled, whole)
    # against the patch net on the normalised image
    norm = normalize_images(torch.from_numpy(image.astype(np.float32))[None],
                            net.normalization).numpy()
    pixels = pixels_to_check(45, 70, rng, n=20)
    logits = patch_reference(net, norm, pixels)[0]
    ref = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    got = np.stack([whole[:, y, x] for y, x in pixels])
    assert_close(got, ref)


def test_predict_input_forms():
    net = randomize(PatchNet(width=3, receptive_field=16, n_pools=1), 4)
    rng = np.random.default_rng(1)
    image = rng.normal(size=(33, 20)).astype(np.float32)
    p2 = predict(net, image, device="cpu")
    p3 = predict(net, image[None], device="cpu")
    p4 = predict(net, np.stack([image, image[::-1]])[:, None], device="auto", tile=8)
    pt = predict(net, torch.from_numpy(image), device="cpu")
    assert p2.shape == p3.shape == (3, 33, 20) and p4.shape == (2, 3, 33, 20)
    assert isinstance(pt, torch.Tensor)
    assert_close(p3, p2)
    assert_close(p4[0], p2)
    assert_close(pt.numpy(), p2)
    assert_close(p4[1], predict(net, image[::-1].copy(), device="cpu"))
    # tiny image, smaller than the padding
    tiny = predict(net, image[:2, :1], device="cpu")
    assert tiny.shape == (3, 2, 1) and np.allclose(tiny.sum(0), 1, atol=1e-5)
    # a DenseNet is accepted as the model
    assert_close(predict(to_dense(net), image, device="cpu"), p2)


def test_predict_bad_input_errors():
    net = PatchNet(width=2).eval()
    image = np.zeros((20, 20), np.float32)
    with pytest.raises(ValueError, match="images must be 2-D"):
        predict(net, np.zeros((1, 1, 1, 4, 4)), device="cpu")
    with pytest.raises(ValueError, match="images has 2 channels"):
        predict(net, np.zeros((2, 8, 8)), device="cpu")
    with pytest.raises(ValueError, match="images is 2-D"):
        predict(PatchNet(in_channels=2, width=2), image, device="cpu")
    bad = image.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="images contains NaN"):
        predict(net, bad, device="cpu")
    with pytest.raises(TypeError, match="images must be a numpy array"):
        predict(net, [[1.0]], device="cpu")
    with pytest.raises(TypeError, match="images must be a real numeric"):
        predict(net, np.zeros((4, 4), complex), device="cpu")
    with pytest.raises(ValueError, match="tile must be at least 1"):
        predict(net, image, device="cpu", tile=0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        predict(net, image, device="cpu", batch_size=2.5)
    with pytest.raises(ValueError, match="device must be"):
        predict(net, image, device="gpu")
    with pytest.raises(ValueError, match="precision must be"):
        predict(net, image, device="cpu", precision="int8")
    with pytest.raises(TypeError, match="model must be a PatchNet"):
        predict(torch.nn.Conv2d(1, 3, 1), image, device="cpu")
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.zeros(1, 1, 10, 10))
    with pytest.raises(ValueError, match="receptive_field=30 cannot be reached"):
        PatchNet(receptive_field=30)
    with pytest.raises(ValueError, match="width must be at least 1"):
        PatchNet(width=0)


@pytest.mark.skipif(cuda_available() and torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_raises_clearly():
    with pytest.raises(CudaUnavailableError, match="device='cuda'"):
        predict(PatchNet(width=2), np.zeros((8, 8), np.float32), device="cuda")


def _toy_problem(seed=0, size=40):
    """Bright blobs on a dark noisy background; targets from nuclei_targets."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((size, size), np.int32)
    for k in range(1, 5):
        cy, cx = rng.integers(6, size - 6, 2)
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= 16] = k
    image = (labels > 0) * 100.0 + rng.normal(0, 10, (size, size))
    return image.astype(np.float32), nuclei_targets(labels), labels


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("mode", ["patch", "dense"])
def test_training_reduces_the_loss_and_is_deterministic(mode, one_thread):
    image, targets, _ = _toy_problem()
    kwargs = dict(mode=mode, iterations=60, batch_size=32 if mode == "patch" else 2, crop=16,
                  lr=5e-3, seed=3, progress=False, width=4, receptive_field=16, n_pools=1)
    net = train(image, targets, **kwargs)
    loss = net.history["loss"]
    assert np.mean(loss[-10:]) < 0.7 * np.mean(loss[:5])
    again = train(image, targets, **kwargs)
    for (k, v), (_, w) in zip(net.state_dict().items(), again.state_dict().items()):
        assert torch.equal(v, w), k


def test_training_with_sparse_scribbles_and_checkpoint(tmp_path):
    image, targets, _ = _toy_problem(1)
    scribbles = np.full(targets.shape, -1, np.int8)
    scribbles[::5, ::3] = targets[::5, ::3]  # a sparse subset is labelled
    path = tmp_path / "ckpt.pt"
    net = train([image, image.T.copy()], [scribbles, scribbles.T.copy()], mode="dense",
                iterations=4, checkpoint=str(path), checkpoint_every=2, progress=False,
                width=2, receptive_field=16, n_pools=1, crop=12, batch_size=2)
    assert path.exists()
    reloaded = load(path)
    x = torch.rand(3, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), reloaded(x))


def test_train_bad_input_errors():
    image, targets, _ = _toy_problem()
    with pytest.raises(ValueError, match="annotations\\[0\\] has shape"):
        train(image, targets[:-1], iterations=1, progress=False)
    with pytest.raises(ValueError, match="annotations\\[0\\] has class 5"):
        train(image, np.full(image.shape, 5, np.int8), iterations=1, progress=False)
    with pytest.raises(TypeError, match="annotations\\[0\\] must be an integer"):
        train(image, targets.astype(np.float32), iterations=1, progress=False)
    with pytest.raises(ValueError, match="no labelled pixel"):
        train(image, np.full(image.shape, -1, np.int8), iterations=1, progress=False)
    with pytest.raises(ValueError, match="mode must be"):
        train(image, targets, mode="sparse", progress=False)
    with pytest.raises(ValueError, match="equal length"):
        train([image, image], [targets], progress=False)
    bad = image.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="images\\[0\\] contains NaN"):
        train(bad, targets, iterations=1, progress=False)


def test_save_load_roundtrip_is_identical(tmp_path):
    net = randomize(PatchNet(in_channels=2, receptive_field=28, width=4), 7)
    path = tmp_path / "m.pt"
    save(to_dense(net), path, note="x")
    again = load(path)
    assert again.config == net.config and again.metadata == {"note": "x"}
    for (k, v), (k2, w) in zip(net.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, w)
    image = np.random.default_rng(2).normal(size=(2, 30, 30)).astype(np.float32)
    np.testing.assert_array_equal(predict(net, image, device="cpu"),
                                  predict(again, image, device="cpu"))
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(Exception):
        load(tmp_path / "junk.pt")


def test_default_model_loads_and_segments_a_small_field():
    from pyhcs.datasets import synthetic_field

    net = load_default()
    assert net.receptive_field == 32 and net.metadata["classes"] == [
        "background", "interior", "boundary"]
    field = synthetic_field((128, 128), n_nuclei=10, seed=5)
    prob = predict(net, field.channel("DNA"), device="cpu")
    labels = probabilities_to_labels(prob)
    assert 5 <= labels.max() <= 20


def test_nuclei_targets_and_labels_from_ideal_probabilities():
    from pyhcs.datasets import synthetic_field

    truth = synthetic_field((96, 96), n_nuclei=12, seed=2).nuclei
    targets = nuclei_targets(truth)
    assert set(np.unique(targets)) <= {0, 1, 2}
    assert np.array_equal(targets > 0, truth > 0)
    prob = np.eye(3, dtype=np.float32)[targets].transpose(2, 0, 1)
    labels = probabilities_to_labels(prob, min_seed_size=1, min_size=1)
    # every nucleus with an interior is recovered (boundary pixels between touching nuclei may
    # go either way on the flat boundary plateau)
    for k in range(1, truth.max() + 1):
        if ((targets == 1) & (truth == k)).any():
            values, counts = np.unique(labels[truth == k], return_counts=True)
            best = values[np.argmax(counts)]
            inter = np.sum((labels == best) & (truth == k))
            assert best > 0 and inter / np.sum((labels == best) | (truth == k)) > 0.8
    with pytest.raises(ValueError, match="probabilities must be 3-D"):
        probabilities_to_labels(prob[0])
    with pytest.raises(ValueError, match="interior_threshold"):
        probabilities_to_labels(prob, interior_threshold=1.5)
    with pytest.raises(TypeError, match="labels must be an integer"):
        nuclei_targets(truth.astype(float))


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_predict_on_gpu_matches_cpu(precision):
    import cupy

    net = randomize(PatchNet(in_channels=2, width=4), 9)
    image = np.random.default_rng(3).integers(0, 4000, (2, 300, 257)).astype(np.uint16)
    cpu = predict(net, image, device="cpu")
    on_gpu = predict(net, cupy.asarray(image), precision=precision, tile=128, batch_size=3)
    assert isinstance(on_gpu, cupy.ndarray) and on_gpu.shape == cpu.shape
    tolerance = 1e-4 if precision == "float32" else 5e-2
    assert np.abs(cupy.asnumpy(on_gpu) - cpu).max() <= tolerance
    from_numpy = predict(net, image, device="cuda", precision=precision)
    assert isinstance(from_numpy, np.ndarray)
    tensor = predict(net, torch.from_numpy(image.astype(np.float32)).cuda(), precision=precision)
    assert tensor.is_cuda


def test_default_model_is_package_data():
    import fnmatch
    import tomllib
    from pathlib import Path

    from pyhcs.pixel import DEFAULT_MODEL_PATH

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["pyhcs.pixel"]
    relative = DEFAULT_MODEL_PATH.relative_to(root / "pyhcs" / "pixel").as_posix()
    assert any(fnmatch.fnmatch(relative, p) for p in patterns)
    assert DEFAULT_MODEL_PATH.stat().st_size < 2**20  # "a few MB at most"
