"""Entry point that runs the engine tests' pipeline as a script, embedded or under ``ray job submit``.

The test stages live in the tests folder, which Ray workers cannot import: they are pickled by value.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ray import cloudpickle  # noqa: E402
import engine_support  # noqa: E402

from fineweb_pipe.cli import main_for_pipeline  # noqa: E402

cloudpickle.register_pickle_by_value(engine_support)

if __name__ == "__main__":
    raise SystemExit(main_for_pipeline(engine_support.make_pipeline()))
