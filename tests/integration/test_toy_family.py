"""Adding a family is one new module plus its params block: a toy family, written into a copy
of the project as ``src/aeops/models/autoencoders/toy.py`` and given a ``models.toy`` block,
passes the detector contract suite and runs through the whole pipeline (`dvc repro`: trained,
evaluated, in the ensemble, compared), while nothing else in the project changes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT
from tests.integration.project import make_project, project_env, run, with_venv

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a dvc repro: about a minute

TOY = textwrap.dedent(
    '''
    """A toy family: one tanh layer each way (what a user's own family module looks like)."""

    from __future__ import annotations

    import torch
    from torch import nn

    from aeops.core.sections import Latent
    from aeops.models.autoencoders.base import Autoencoder, Family, FamilyParams, Objective


    class ToyConfig(FamilyParams):
        latent: Latent
        width: int


    class ToyAE(Autoencoder):
        def __init__(
            self, input_dim: int, hidden: list[int], latent: int, out_activation: str, width: int
        ) -> None:
            super().__init__()
            self.input_dim = input_dim
            self.encoder = nn.Sequential(
                nn.Linear(input_dim, width), nn.Tanh(), nn.Linear(width, latent)
            )
            self.decoder = nn.Sequential(
                nn.Linear(latent, width), nn.Tanh(), nn.Linear(width, input_dim)
            )

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            return self.encoder(x)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.decoder(z)


    FAMILY = Family(
        name="toy",
        params=ToyConfig,
        network=ToyAE,
        objective=lambda params, loss: Objective(loss),
        network_args=lambda params: {"width": params.width},
    )
    '''
)


def add_toy_family(root: Path) -> None:
    """The two edits a user makes: the module, and its block (listed in models.families)."""
    (root / "src/aeops/models/autoencoders/toy.py").write_text(TOY.lstrip())
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"]["families"] = ["toy", "dense"]
    params["models"]["toy"] = {"latent": 4, "width": 32}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_toy_family_module_and_its_params_block_are_all_it_takes(tmp_path: Path):
    # no fold large enough to show a family reliably worse: the ensemble keeps both (4 epochs)
    root = with_venv(
        make_project(tmp_path / "project", {"register": {"switch_min_anomalies": 1_000_000}})
    )
    shutil.copytree(ROOT / "tests", root / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tests"], root)
    add_toy_family(root)
    changed = run(["git", "status", "--porcelain"], root).stdout.split("\n")
    assert sorted(line for line in changed if line) == [
        " M params.yaml",
        "?? src/aeops/models/autoencoders/toy.py",
    ]
    env = {"PYTHONPATH": str(root / "src")}  # the copy's package, toy family included
    where = run([sys.executable, "-c", "import aeops; print(aeops.__file__)"], root, extra_env=env)
    assert where.stdout.strip().startswith(str(root / "src"))

    # the contract suite finds the toy by itself and runs every check on it
    contract = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/model/test_contract.py", "-k", "toy"],
        root,
        extra_env=env,
        timeout=300,
    )  # fmt: skip
    assert " passed" in contract.stdout and "failed" not in contract.stdout, contract.stdout
    assert int(contract.stdout.split(" passed")[0].split()[-1]) >= 8

    # and the whole pipeline trains, evaluates and compares it: dvc.yaml is untouched
    repro = subprocess.run(
        [str(root / ".venv/bin/dvc"), "repro"],
        cwd=root,
        env={**project_env(root), **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    assert "Running stage 'train@toy'" in repro.stdout
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert {"toy", "dense", "ensemble"} <= set(metrics["models"])
    assert metrics["models"]["toy"]["kind"] == "autoencoder"
    assert 0.0 <= metrics["models"]["toy"]["test_auroc"] <= 1.0  # measured (4 epochs: no bar)
    assert "toy" in json.loads((root / "reports/summary.json").read_text())["auroc"]
    assert (root / "reports/eval/toy/detector.json").exists()  # registrable like any family
    record = json.loads((root / "models/toy/run.json").read_text())
    assert record["architecture"]["width"] == 32 and record["architecture"]["latent"] == 4
