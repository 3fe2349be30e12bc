"""numba's disk cache must notice edits to helpers shared between pyhcs kernels."""

import os

from pathlib import Path

from pyhcs import _numba_cache

PACKAGE = Path(_numba_cache.__file__).resolve().parent


def test_every_module_with_cached_kernels_registers_the_locator():
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        if "cache=True)" in source and path.name != "_numba_cache.py":
            assert "_numba_cache.register()" in source, path


def test_pyhcs_kernels_use_the_package_stamped_locator():
    from pyhcs.features import _glcm_cpu, _regionprops_cpu

    for kernel in (_glcm_cpu.haralick_cpu, _regionprops_cpu.accumulate_cpu):
        locator = kernel._cache._impl._locator
        assert type(locator).__name__.startswith("Pyhcs"), type(locator)
        assert locator.get_source_stamp()[1] == _numba_cache.package_stamp()
    names = {entry[0] for entry in _numba_cache.package_stamp()}
    assert os.path.join("features", "_haralick_math.py") in names


def test_any_file_change_changes_the_stamp(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    helper = tmp_path / "sub" / "helper.py"
    helper.write_text("x = 1\n")
    (tmp_path / "kernel.py").write_text("y = 2\n")
    monkeypatch.setattr(_numba_cache, "_PACKAGE_DIR", str(tmp_path))
    _numba_cache.package_stamp.cache_clear()
    try:
        before = _numba_cache.package_stamp()
        assert {entry[0] for entry in before} == {"kernel.py", os.path.join("sub", "helper.py")}
        helper.write_text("x = 10\n")  # another size
        _numba_cache.package_stamp.cache_clear()
        edited = _numba_cache.package_stamp()
        assert edited != before
        st = os.stat(helper)
        os.utime(helper, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, later
        _numba_cache.package_stamp.cache_clear()
        assert _numba_cache.package_stamp() != edited
    finally:
        monkeypatch.undo()
        _numba_cache.package_stamp.cache_clear()


def test_numba_cache_dir_gets_the_package_stamp_too(tmp_path):
    import subprocess
    import sys

    code = (
        "from pyhcs.features import _glcm_cpu\n"
        "print(type(_glcm_cpu.haralick_cpu._cache._impl._locator).__name__)\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert out == "PyhcsUserProvidedCacheLocator"
