"""Regenerate assets/mouth/teeth_upper.png: python -m vasa_core.render.teeth_asset PORTRAIT (see its README)."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from vasa_core.render.mouth import SKIN_SAMPLE_POINTS, TEETH_ASSET, cut_teeth_texture, lab_stats


def main() -> None:
    """Regenerate assets/mouth/teeth_upper.png from a portrait that shows its upper teeth (see its README)."""
    from vasa_core.analysis.face import FaceAnalyzer

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("portrait", type=Path)
    parser.add_argument("--out", type=Path, default=TEETH_ASSET)
    args = parser.parse_args()
    image = cv2.cvtColor(cv2.imread(str(args.portrait)), cv2.COLOR_BGR2RGB)
    analyzer = FaceAnalyzer()
    big = analyzer.analyze(image, 1024)
    if not big.teeth_visible:
        raise SystemExit(f"{args.portrait} does not show its teeth: choose a portrait with a visible upper row")
    tex = cut_teeth_texture(big.image, big.landmarks)
    cv2.imwrite(str(args.out), cv2.cvtColor(tex, cv2.COLOR_RGBA2BGRA))
    small = analyzer.analyze(image, 512)
    skin = lab_stats(small.image, small.landmarks[list(SKIN_SAMPLE_POINTS), :2], max(1, int(0.012 * 512)))
    print(f"wrote {args.out}; cheek Lab at 512 px (set mouth._ASSET_SKIN_LAB to it): {np.round(skin, 1).tolist()}")


if __name__ == "__main__":
    main()
