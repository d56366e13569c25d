"""Sweeps (multiruns): ``size.py`` refuses a grid past ``sweep_max_jobs`` before Hydra starts, ``check.py``
composes a sweep's other jobs before any is written, ``resume.py`` continues a sweep in its folder
(``resume_sweep=``), ``summary.py`` writes the sweep's summary when it ends, and ``wandb.py`` turns a sweep into a
W&B sweep file (``python -m seqlab.wandb_sweep``)."""
