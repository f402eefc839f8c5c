"""Probes: read one part of the site and return frozen state objects."""
