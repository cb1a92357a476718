"""What an agent is, for every channel: the agent contract (`contract`)."""
