"""DVC stage `evaluate`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.common import run_stage
from aeops.stages.evaluation import evaluate


def main() -> None:
    run_stage("evaluate", evaluate)


if __name__ == "__main__":
    main()
