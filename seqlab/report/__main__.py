"""``python -m seqlab.report PATH ...`` (seqlab/report/command.py)."""

from seqlab.report.command import main

if __name__ == "__main__":
    main()
