"""One monitor per jump host: `hotspare monitor` and the consoles and commands that read it.

The monitor keeps the SSH links and the state; consoles, `status`, `check`
and `events` on the same host read its snapshots through a Unix socket only
the invoking user can open, so N consoles cost the boxes what one costs.
Without it everything works as before, on the command's own connections.
"""
