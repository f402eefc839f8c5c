"""Logs: following the nodes' files over SSH, merging them, collecting them."""
