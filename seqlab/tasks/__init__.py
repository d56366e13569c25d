"""Tasks: each owns its data (DataModule), head, loss and metrics (LightningModule), and what it generates."""
