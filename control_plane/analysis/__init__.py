"""What is learnt from a conversation after it ends: its sentiment, and (to come) its summary,
intents, resolution and the data it collected."""
