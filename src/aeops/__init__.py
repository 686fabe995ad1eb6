"""aeops: autoencoder anomaly detection, from raw data to a registered champion model."""

__version__ = "0.1.0"
