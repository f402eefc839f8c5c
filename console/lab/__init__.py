"""The local lab: real sshd, HAProxy, PostgreSQL and the demo site on loopback addresses."""
