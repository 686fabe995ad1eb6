"""DVC stage `evaluate@<family>`: see README.md. Reads params.yaml, calls the library."""

from aeops.stages.common import run_family_stage
from aeops.stages.evaluation import evaluate


def main() -> None:
    run_family_stage("evaluate", evaluate)


if __name__ == "__main__":
    main()
