"""hotspare core: inventory, connections, probes, state, actions. Never imports textual."""
