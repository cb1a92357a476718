"""``python -m fake_providers.openai``."""

from fake_providers.openai.cli import main

main()
