"""`python -m ioc` runs the CLI."""

from ioc.cli import main

main()
