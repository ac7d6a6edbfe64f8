"""``python -m adapters.cli``: the ``doseledger`` command without the console script."""

from adapters.cli import main

if __name__ == "__main__":
    main()
