"""DVC stage `prepare`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.prepare import prepare
from aeops.stages.runner import run_stage


def main() -> None:
    run_stage("prepare", prepare)


if __name__ == "__main__":
    main()
