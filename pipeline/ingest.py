"""DVC stage `ingest`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.common import run_stage
from aeops.stages.data import ingest


def main() -> None:
    run_stage("ingest", ingest)


if __name__ == "__main__":
    main()
