"""DVC stage `report`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.common import run_stage
from aeops.stages.report import report


def main() -> None:
    run_stage("report", report)


if __name__ == "__main__":
    main()
