"""``python -m fake_providers.elevenlabs``."""

from fake_providers.elevenlabs.cli import main

main()
