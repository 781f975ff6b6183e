#!/usr/bin/env bash
# Search and the read path at scale (issue #15's targets): bench/catalogue.sh
# with the search requests added, on 100,000 resources by default.
#
#   bash bench/search.sh                          # 100,000 resources, both backends
#   BENCH_RESOURCES=10000 bash bench/search.sh    # the same at 10,000 (to see growth)
#
# Measured, after /healthz, the first page and one dataset:
#   q with one word that matches, with facets of 4 fields
#   q with two words that match, with facets of 4 fields
#   q with one word that matches nothing (a correction is looked for), with facets
#   q with two words that match nothing, with facets
#   facet filters without q (kind=dataset&language=en)
#   100 ids (the CKAN package_list equivalent)
#   type-ahead (a prefix with few matches, and two letters that match ~15 %)
# Every figure is a ratio to /healthz in the same run; the server's RSS after
# the whole run is printed at the end. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
facets="facets=kind,language,country,tag"
export BENCH_RESOURCES=${BENCH_RESOURCES:-100000}
export BENCH_EXTRA_PATHS=${BENCH_EXTRA_PATHS:-"\
/api/v1/resources?limit=20&q=quechua&$facets \
/api/v1/resources?limit=20&q=crop+disease&$facets \
/api/v1/resources?limit=20&q=nosuchwordatall&$facets \
/api/v1/resources?limit=20&q=nosuchword+atall&$facets \
/api/v1/resources?limit=20&kind=dataset&language=en \
/api/v1/datasets?limit=100&fields=id \
/api/v1/resources/suggest?q=quec \
/api/v1/resources/suggest?q=sp"}
exec bash bench/catalogue.sh "$@"
