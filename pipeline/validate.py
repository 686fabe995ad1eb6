"""DVC stage `validate`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.runner import run_stage
from aeops.stages.validate import validate


def main() -> None:
    run_stage("validate", validate)


if __name__ == "__main__":
    main()
