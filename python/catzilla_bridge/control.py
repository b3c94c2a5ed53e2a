"""Control calls made from Node.js through pythonia (never on the data path)."""
import json
import sys
import traceback

from .targets import resolve


def validate(targets_json, paths_json="[]"):
    """Imports every target; returns a JSON string {"ok": bool, "python": str, "errors": [{target, traceback}]}."""
    for p in reversed(json.loads(paths_json)):
        if p not in sys.path:
            sys.path.insert(0, p)
    errors = []
    for target in json.loads(targets_json):
        try:
            resolve(target)
        except BaseException:  # noqa: BLE001 - an import can raise anything, SystemExit included
            errors.append({"target": target, "traceback": traceback.format_exc()})
    return json.dumps({"ok": not errors, "python": sys.version.split()[0], "errors": errors})


if __name__ == "__main__":
    # Fallback used when pythonia is unavailable: python -m catzilla_bridge.control TARGETS_JSON PATHS_JSON
    sys.stdout.write(validate(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "[]") + "\n")
