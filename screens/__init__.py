"""The Textual console. Renders snapshots from console/; does no I/O of its own."""
