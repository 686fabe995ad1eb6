"""DVC stage `train@<family>`: see README.md. Reads params.yaml, calls the library."""

from aeops.stages.runner import run_family_stage
from aeops.stages.train import train


def main() -> None:
    run_family_stage("train", train)


if __name__ == "__main__":
    main()
