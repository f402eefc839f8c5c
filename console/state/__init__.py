"""Immutable snapshots of the cluster and the verdicts drawn from them."""
