"""The turn-taking benchmark (`benchmarks/turn_taking.py`) and its corpus
(`benchmarks/turn_corpus.py`)."""
