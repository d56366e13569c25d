"""Time-series forecasting (task ``forecast``): windows, baselines, MASE."""
