"""seqlab's sweepers: Hydra's grid sweeper and the Optuna sweeper, able to continue a sweep in its own folder
(``resume_sweep=``). Hydra imports this package when it scans ``hydra_plugins`` for plugins."""
