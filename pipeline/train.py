"""DVC stage `train@<family>`: see README.md. Reads params.yaml, calls the library."""

import argparse

from aeops.stages.common import run_stage
from aeops.stages.models import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("family", help="model family, one of models.families in params.yaml")
    args = parser.parse_args()
    run_stage(f"train@{args.family}", lambda cfg: train(cfg, args.family))


if __name__ == "__main__":
    main()
