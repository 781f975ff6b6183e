#!/usr/bin/env bash
# DCAT harvesting (issue #17, point 10): catalogue pages of 100 datasets at
# 100,000 resources, as ratios to GET /healthz in the same run — the first
# page, a page deep in the catalogue (an offset of 14,900; and the same page
# reached by following hydra:next, a keyset read), the same page in
# each format, an incremental harvest's first page (modified_since a year
# ago), and OAI-PMH ListRecords pages in both formats. It is
# bench/catalogue.sh with these paths added (same seeding, both backends,
# "cached" and "uncached" modes: read the uncached rows for what a
# harvester that walks every page costs; the cached rows are a harvester
# repeating a page another has just fetched).
#
#   bash bench/harvest.sh
#   BENCH_RESOURCES=20000 BENCH_WRK_DURATION=5s bash bench/harvest.sh
#
# Environment: as bench/catalogue.sh; BENCH_HARVEST_DEEP_PAGE (150).
set -euo pipefail
set -f
cd "$(dirname "$0")/.."
deep=${BENCH_HARVEST_DEEP_PAGE:-150}
since=$(date -u -d '365 days ago' +%Y-%m-%dT%H:%M:%SZ)
paths="/api/v1/catalog.ttl?page=1"
paths+=" /api/v1/catalog.ttl?page=$deep"
# The same page as a harvester reaches it: following page $((deep - 1))'s
# hydra:next, which reads on from where that page ended (no offset).
paths+=" next:/api/v1/catalog.ttl?page=$((deep - 1))"
paths+=" /api/v1/catalog.jsonld?page=$deep"
paths+=" /api/v1/catalog.rdf?page=$deep"
paths+=" /api/v1/catalog.ttl?page=1&modified_since=$since"
# OAI-PMH ListRecords pages of 100 (later pages continue a keyset from the
# token, so they cost what the first one does).
paths+=" /oai?verb=ListRecords&metadataPrefix=oai_dc"
paths+=" /oai?verb=ListRecords&metadataPrefix=oai_datacite"
export BENCH_RESOURCES=${BENCH_RESOURCES:-100000}
export BENCH_EXTRA_PATHS="${BENCH_EXTRA_PATHS:-$paths}"
exec bash bench/catalogue.sh
