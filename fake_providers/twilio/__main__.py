"""``python -m fake_providers.twilio``."""

from fake_providers.twilio.cli import main

main()
