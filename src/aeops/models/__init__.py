"""Autoencoder families (plain ``nn.Module``s), their losses and the shared LightningModule."""
