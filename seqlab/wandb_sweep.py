"""``python -m seqlab.wandb_sweep ...``: the command's entry point; the code is seqlab/sweep/wandb.py."""

from seqlab.sweep.wandb import main

if __name__ == "__main__":
    main()
