"""DVC stage `register`: see README.md. Reads params.yaml, calls the library, writes outputs."""

from aeops.stages.register import register
from aeops.stages.runner import run_stage


def main() -> None:
    run_stage("register", register)


if __name__ == "__main__":
    main()
