"""DVC stage `baselines`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.common import run_stage
from aeops.stages.evaluation import baselines


def main() -> None:
    run_stage("baselines", baselines)


if __name__ == "__main__":
    main()
