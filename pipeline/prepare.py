"""DVC stage `prepare`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.common import run_stage
from aeops.stages.data import prepare


def main() -> None:
    run_stage("prepare", prepare)


if __name__ == "__main__":
    main()
