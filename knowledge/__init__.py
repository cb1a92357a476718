"""What an agent knows: documents turned into passages (parsing and chunking), passages into
vectors (embeddings), and the search over them (the index). No I/O of its own beyond what it
is handed: the store keeps items and chunks, the control plane ingests, calls retrieve."""
