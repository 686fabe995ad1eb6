"""Image denoisers: fully convolutional networks trained on noisy patches, so a model trained
on 48 x 48 patches denoises a photo of any size (:mod:`aeops.models.denoisers.unet`)."""

DENOISERS = ("unet",)  # what ``models.families`` may name with ``task: denoise``
