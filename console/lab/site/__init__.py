"""The demo site run on each lab web node, standing in for an OpenACS application.

It behaves like a real application from the high-availability point of view:
it follows its node role file, logs like Apache, mails, runs a scheduled
sweep and fails over to a promoted database by itself.
"""

from pathlib import Path

SCHEMA_SQL: Path = Path(__file__).with_name("schema.sql")
"""The tables of the site; the lab applies this file as role ``site`` in db ``site``."""
