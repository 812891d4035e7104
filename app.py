"""The hosted demo: ``python app.py [--host 0.0.0.0] [--port 7860] ...`` (also the Hugging Face Spaces entry point).

Every setting is a flag and an environment variable: ``python app.py --help`` lists them (see docs/DEMO.md).
The pipeline and its models load once here, before the server starts; all requests share them.
"""

from __future__ import annotations

import logging
import sys

from demo.settings import parse_settings


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from demo.ui import build_demo, launch
    from vasa_core import TalkingHeadPipeline

    pipeline = TalkingHeadPipeline(safety_config=settings.safety_config())
    launch(build_demo(pipeline, settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
