"""Validates a 360Giving data package against the local 1.4.3 package schema.

Usage: python3 validate_360giving.py FILE.json
Exit 0 when valid; 1 with the errors (at most 20) when not; 3 when format assertions are not
available (without them, a plain date matches both branches of awardDate's oneOf).
"""
import json
import os
import sys

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "360giving-1.4.3")
with open(os.path.join(here, "360-giving-package-schema.json"), encoding="utf-8") as f:
    package = json.load(f)
with open(os.path.join(here, "360-giving-schema.json"), encoding="utf-8") as f:
    grant = json.load(f)

checker = Draft202012Validator.FORMAT_CHECKER
if checker.conforms("2025-01-01", "date-time") or not checker.conforms("2025-01-01T00:00:00Z", "date-time"):
    print("date-time format assertions are not available (install rfc3339-validator)")
    sys.exit(3)

resource = DRAFT202012.create_resource(grant)
registry = Registry().with_resources(
    [(package["properties"]["grants"]["items"]["$ref"], resource), (grant["$id"], resource)]
)
validator = Draft202012Validator(package, registry=registry, format_checker=checker)
with open(sys.argv[1], encoding="utf-8") as f:
    document = json.load(f)
errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
for error in errors[:20]:
    print("/".join(str(p) for p in error.absolute_path), ":", error.message[:300])
sys.exit(1 if errors else 0)
