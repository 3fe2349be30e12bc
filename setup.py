"""Build pyhcs, driving CMake to compile the pybind11 extension ``pyhcs._core``.

Environment switches
--------------------
PYHCS_CUDA
    ``AUTO`` (default): compile the CUDA C++ sources in ``csrc/`` when CMake finds a CUDA
    toolkit; ``OFF``: never; ``ON``: require one.
PYHCS_BUILD_TYPE
    CMake build type, default ``Release``.
PYHCS_BUILD_JOBS
    Parallel build jobs, default: the number of CPUs.
"""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str, source_dir: Path):
        super().__init__(name, sources=[])
        self.source_dir = str(source_dir)


class CMakeBuild(build_ext):
    def build_extension(self, ext: CMakeExtension) -> None:
        import pybind11

        output_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / ext.name
        build_dir.mkdir(parents=True, exist_ok=True)
        build_type = os.environ.get("PYHCS_BUILD_TYPE", "Release")
        configure = [
            "cmake",
            ext.source_dir,
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={output_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DPYHCS_CUDA={os.environ.get('PYHCS_CUDA', 'AUTO').upper()}",
        ]
        jobs = os.environ.get("PYHCS_BUILD_JOBS", str(os.cpu_count() or 1))
        subprocess.run(configure, cwd=build_dir, check=True)
        subprocess.run(
            ["cmake", "--build", ".", "--config", build_type, "-j", jobs], cwd=build_dir, check=True
        )


setup(
    ext_modules=[CMakeExtension("pyhcs._core", ROOT)],
    cmdclass={"build_ext": CMakeBuild},
)
