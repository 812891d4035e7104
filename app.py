"""The hosted demo: ``python app.py [--host 0.0.0.0] [--port 7860] ...`` (also the Hugging Face Spaces entry point).

Every setting is a flag and an environment variable: ``python app.py --help`` lists them (see the README, "The hosted demo").
The pipeline and its models load once here, before the server starts; all requests share them.
"""

from __future__ import annotations

import logging
import sys

from demo.settings import parse_settings


EXIT_BAD_SETTINGS = 2  # as argparse exits on a bad flag


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    try:
        safety_config = settings.safety_config()
    except ValueError as exc:  # e.g. a signing certificate without its key: say so before loading any model
        print(f"python app.py: error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from demo.ui import build_demo, launch
    from vasa_core import TalkingHeadPipeline

    pipeline = TalkingHeadPipeline(safety_config=safety_config)
    launch(build_demo(pipeline, settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
