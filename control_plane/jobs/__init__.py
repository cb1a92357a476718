"""Background work of the control plane: webhook delivery, the reaper of lost calls, the
retention purge. Each runs as a task of the API process (and any number of them may run)."""
