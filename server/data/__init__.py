"""Data files shipped with the server (a package so they are installed with it).

- `postcodes_de.tsv.gz`: German postcodes, built by `scripts/build_postcodes.py` from GeoNames
  (geonames.org, CC BY 4.0); read by `server.services.geo`.
- `topics.json`: the built-in counselling topics with names in every shipped locale.
- `demo_sites.json`: demo JMD sites for `jmdchat demo` (only Trier's address is real).
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
