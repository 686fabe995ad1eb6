"""``task: denoise``: photos in, denoised photos out. The denoisers (:mod:`aeops.models.denoisers`)
train on noisy patches of the training fold's images; each is measured beside the classical
denoisers told the true sigma (non-local means, total variation, wavelet) on the same noisy
validation and test images at each of ``evaluate.denoise_sigmas`` (and its own); chosen by
mean validation PSNR over the sigmas its training noise covers (``val_psnr_db``), through the
same selection and promotion rule as every task; registered as ``aeops-<data>-denoise``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aeops.core.sections import CodeConfig
from aeops.evaluation.metric import DENOISING
from aeops.tasks.base import Section, Table, Task, TaskConfig, rounded

if TYPE_CHECKING:
    from aeops.evaluation.results import Comparison

CLASSICAL = ("non_local_means", "total_variation", "wavelet", "bm3d")


class Denoise(Task):
    name = "denoise"
    model_kind = "denoiser"
    metrics = DENOISING

    def check(self, cfg: TaskConfig) -> None:
        self.check_families(list(cfg.models.families))
        if cfg.register.metric != "val_psnr_db":
            raise ValueError(
                f"register.metric: {cfg.register.metric} does not measure denoising; task: "
                "denoise chooses by validation PSNR: set register.metric: val_psnr_db"
            )

    def baselines(self, found: dict[str, Any]) -> dict[str, Any]:
        return {}  # the classical denoisers are references, not models (:meth:`references`)

    def references(self, inputs: Any, code: CodeConfig, seed: int) -> dict[str, Any]:
        """Each classical denoiser told the true sigma, its setting chosen on validation, on
        the same noisy images as the models, at every sigma they are measured at."""
        from aeops.evaluation.denoising import references

        return {f"{s:g}": references(*inputs.noisy(s)) for s in inputs.sigmas}

    def best_classical(self, comparison: Comparison) -> dict[str, str]:
        """At each sigma, the classical denoiser best on validation."""
        return {
            sigma: max(refs, key=lambda n: refs[n]["val"]["psnr_db"])
            for sigma, refs in comparison.references.items()
        }

    def headline(self, comparison: Comparison, code: CodeConfig) -> dict[str, Any]:
        """The chosen denoiser's figures, and at each sigma its test PSNR beside the noisy
        input's and the best classical denoiser's."""
        winner = comparison.winner
        out: dict[str, Any] = {"task": self.name, "chosen": comparison.chosen}
        out.update({k: rounded(v) for k, v in winner.figures.items() if isinstance(v, float)})
        by_sigma = winner.figures["by_sigma"]
        for sigma, best in self.best_classical(comparison).items():
            test = by_sigma[sigma]["test"]
            out[f"sigma_{sigma}"] = {
                "test_psnr_db": rounded(test["psnr_db"]),
                "best_classical": best,
                "best_classical_test_psnr_db": rounded(
                    comparison.references[sigma][best]["test"]["psnr_db"]
                ),
                "noisy_test_psnr_db": rounded(test["psnr_db"] - test["psnr_gain_db"]),
            }
        return out

    def title(self, comparison: Comparison, source: str) -> str:
        return f"aeops denoise run: {comparison.chosen} ({comparison.winner.figures['noise']})"

    def section(self, comparison: Comparison, registry: dict[str, Any]) -> Section:
        """What was measured, then test PSNR / SSIM at every sigma of the noisy input, each
        model and each classical denoiser."""
        model = comparison.winner.figures
        at = ", ".join(f"{s:g}" for s in model["headline_sigmas"])
        images = comparison.notes.get("images", {})
        lead = [
            f"{comparison.chosen}: {model['parameters']:,} parameters, validation PSNR "
            f"{model['val_psnr_db']:.2f} dB at sigma {at}; test PSNR "
            f"{model['test_psnr_db']:.2f} dB, {model['test_psnr_gain_db']:+.2f} dB over the noisy "
            f"input, SSIM {model['test_ssim']:.3f}.",
            f"Images measured: {images.get('val', '?')} validation, {images.get('test', '?')} "
            "test (noise added once, seeded, clipped to [0, 1]; classical denoisers told the true "
            "sigma, each setting chosen on validation).",
        ]
        return Section("Denoising", lead, [self.by_sigma(comparison)])

    def by_sigma(self, comparison: Comparison) -> Table:
        models = list(comparison.models)
        first_refs: dict[str, Any] = next(iter(comparison.references.values()), {})
        classical = [c for c in CLASSICAL if c in first_refs]
        rows = []
        for sigma, refs in comparison.references.items():
            first = comparison.models[models[0]].figures["by_sigma"][sigma]["test"]
            cells = [sigma, f"{first['psnr_db'] - first['psnr_gain_db']:.2f} dB"]
            for name in models:
                m = comparison.models[name].figures["by_sigma"][sigma]["test"]
                cells.append(f"{m['psnr_db']:.2f} dB / {m['ssim']:.3f}")
            for name in classical:
                t = refs[name]["test"]
                cells.append(f"{t['psnr_db']:.2f} dB / {t['ssim']:.3f}")
            rows.append(cells)
        header = ["sigma", "noisy", *models, *classical]
        return Table("Test PSNR / SSIM by noise level", header, rows)


TASK = Denoise()
