"""DVC stage `register`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.common import run_stage
from aeops.stages.register import register


def main() -> None:
    run_stage("register", register)


if __name__ == "__main__":
    main()
