"""The contract fuzzing of tests/quality/test_contract_fuzzing.py, with many more examples.

    python -m bench.fuzz [--examples 300] [--seed 20260131]

Every documented operation of /openapi.json gets `--examples` valid and invalid requests (the CI
run sends 20); failures are reported per operation, with a curl command to reproduce each.
"""
from __future__ import annotations

import argparse
import os
import sys

import pytest

MODULE = "tests/quality/test_contract_fuzzing.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20260131)
    args = parser.parse_args()
    os.environ["FUZZ_MAX_EXAMPLES"] = str(args.examples)
    os.environ["FUZZ_SEED"] = str(args.seed)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.exit(pytest.main([MODULE, "-p", "no:warnings", "-o", "addopts=", "--timeout=0"]))


if __name__ == "__main__":
    main()
