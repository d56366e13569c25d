"""``python -m seqlab [group=option ...] [key=value ...]``"""

from seqlab.cli.command import main

if __name__ == "__main__":
    main()
