"""DVC stage `evaluate`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.evaluate import evaluate
from aeops.stages.runner import run_stage


def main() -> None:
    run_stage("evaluate", evaluate)


if __name__ == "__main__":
    main()
