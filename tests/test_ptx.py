"""Every GPU kernel compiles for sm_90 with the real GPU compiler (no GPU needed)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pyhcs"
ENV = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}


def test_every_kernel_module_is_registered():
    from pyhcs._ptx_check import GPU_KERNEL_MODULES

    declaring = sorted(
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^@gpu_kernel\(", path.read_text(), flags=re.MULTILINE)
    )
    assert declaring == sorted(GPU_KERNEL_MODULES)


def test_all_kernels_compile_for_sm90():
    result = subprocess.run(
        [sys.executable, "-m", "pyhcs._ptx_check", "--cc", "9.0"],
        capture_output=True, text=True, env=ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"[1-9]\d* kernels compiled for sm_90, 0 failed", result.stdout)


@pytest.mark.parametrize(
    "body, signature",
    [
        # allocation inside a kernel: the simulator runs it, the GPU compiler refuses it
        ("    tmp = np.zeros(4)\n    out[0] = tmp[0]\n", "void(float64[::1])"),
        # an atomic on a 16-bit type
        ("    cuda.atomic.add(out, 0, out[0])\n", "void(int16[::1])"),
    ],
)
def test_the_check_catches_what_the_simulator_accepts(tmp_path, body, signature):
    module = tmp_path / "bad_kernel.py"
    module.write_text(
        "import numpy as np\nfrom numba import cuda\nfrom pyhcs._backend import gpu_kernel\n"
        f"@gpu_kernel({signature!r})\ndef bad(out):\n{body}"
    )
    code = (
        "import sys, pyhcs._ptx_check as c; sys.path.insert(0, sys.argv[1]);"
        "c.GPU_KERNEL_MODULES = ('bad_kernel',); sys.exit(c.main([]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=ENV
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout
