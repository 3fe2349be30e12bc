"""Root pytest configuration, loaded before anything imports numba.

The numba CUDA simulator is switched on so that every GPU kernel runs in the tests without a
GPU; ``PYHCS_TEST_REAL_GPU=1`` (the GPU check) keeps it off. numba reads the variable once, at
import, so it must be set here, not in a test module.
"""

import os

os.environ["NUMBA_ENABLE_CUDASIM"] = (
    "0" if os.environ.get("PYHCS_TEST_REAL_GPU", "0") == "1" else "1"
)

# `python -m pyhcs` runs the CLI on import; never import it while collecting doctests.
collect_ignore = ["pyhcs/__main__.py", "setup.py", "benchmarks"]
