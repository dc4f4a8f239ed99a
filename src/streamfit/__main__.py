"""`python -m streamfit` runs the command-line tool."""

from streamfit.cli.main import entry

if __name__ == "__main__":
    entry()
