"""`python -m streamfit` runs the command-line tool."""

from streamfit.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
