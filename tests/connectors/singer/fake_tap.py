"""A tiny Singer tap for the tests: two streams, state-aware, with failure switches.

    fake_tap.py --config CFG [--discover] [--catalog CAT | --properties CAT] [--state ST]

tap_config: `password` must be "s3cret" (else exit 1, echoing it to stderr the way
careless taps do), `count` records per stream, `hang` to never answer.
"""

import argparse
import json
import sys
import time

STREAMS = {
    "users": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    },
    "orders": {"type": "object", "properties": {"id": {"type": "integer"}}},
}


def emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")


def catalog() -> dict:
    return {
        "streams": [
            {
                "tap_stream_id": name,
                "stream": name,
                "schema": schema,
                "key_properties": ["id"],
                "metadata": [{"breadcrumb": [], "metadata": {"inclusion": "available"}}],
            }
            for name, schema in STREAMS.items()
        ]
    }


def selected(path: str | None, legacy: bool) -> list[str]:
    if path is None:
        return list(STREAMS)
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)["streams"]
    if legacy:
        return [e["stream"] for e in entries if e["schema"].get("selected")]
    return [
        e["stream"]
        for e in entries
        for m in e["metadata"]
        if m["breadcrumb"] == [] and m["metadata"].get("selected")
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--discover", action="store_true")
    parser.add_argument("--catalog")
    parser.add_argument("--properties")
    parser.add_argument("--state")
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    if config.get("hang"):
        time.sleep(3600)
    if config.get("password") != "s3cret":
        print(f"login refused for password {config.get('password')}", file=sys.stderr)
        return 1
    if args.discover:
        print(json.dumps(catalog()))
        return 0
    state = {}
    if args.state:
        with open(args.state, encoding="utf-8") as handle:
            state = json.load(handle)
    bookmarks = state.setdefault("bookmarks", {})
    for name in selected(args.catalog or args.properties, legacy=args.properties is not None):
        start = bookmarks.get(name, {}).get("id", 0)
        emit({"type": "SCHEMA", "stream": name, "schema": STREAMS[name], "key_properties": ["id"]})
        for record_id in range(start + 1, start + 1 + int(config.get("count", 3))):
            emit(
                {
                    "type": "RECORD",
                    "stream": name,
                    "record": {"id": record_id, "name": f"n{record_id}"},
                }
            )
            bookmarks[name] = {"id": record_id}
        emit({"type": "STATE", "value": state})
    return 0


if __name__ == "__main__":
    sys.exit(main())
