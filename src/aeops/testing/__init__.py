"""The contract every model keeps, importable (scikit-learn's ``check_estimator``, for aeops).

A family, baseline or denoiser written outside this repository runs the same checks the
built-in ones pass::

    from aeops.testing import check_detector
    check_detector(lambda: MyDetector(...))      # raises AssertionError naming the check

    from aeops.testing import check_denoiser
    check_denoiser(lambda: MyDenoiser(...))

``make`` builds a new, unfitted model each time it is called. Detectors are fitted on
:func:`contract_rows` (16 features in [0, 1] on a rank-3 subspace; validation with planted
outliers); denoisers on :func:`contract_images` (piecewise-smooth grey images). The checks
are also listed one by one (:data:`DETECTOR_CHECKS`, :data:`DENOISER_CHECKS`), so a test
suite can report each as its own test, as ``tests/model/test_contract.py`` does.

Nothing here imports pytest: a check is a function that raises ``AssertionError``.
"""

from aeops.testing.contract import (
    DENOISER_CHECKS,
    DETECTOR_CHECKS,
    DenoiserContract,
    DetectorContract,
    check_denoiser,
    check_detector,
    contract_images,
    contract_rows,
)

__all__ = [
    "DENOISER_CHECKS",
    "DETECTOR_CHECKS",
    "DenoiserContract",
    "DetectorContract",
    "check_denoiser",
    "check_detector",
    "contract_images",
    "contract_rows",
]
