"""Print how many documents a collection holds (used to check data survives a restart)."""

import sys

from mspass_roles.client import get_database_client

collection = sys.argv[1] if len(sys.argv) > 1 else "roundtrip"
print(f"documents: {get_database_client()['mspass_test'][collection].count_documents({})}")
