"""DVC stage `ingest`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.ingest import ingest
from aeops.stages.runner import run_stage


def main() -> None:
    run_stage("ingest", ingest)


if __name__ == "__main__":
    main()
