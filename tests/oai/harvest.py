"""Harvests a Kujenga OAI-PMH endpoint with sickle (a standard client from
PyPI) and prints what it found as JSON: one object per record or header.

usage: harvest.py BASE_URL VERB PREFIX [from=...] [until=...] [set=...]
       harvest.py BASE_URL ListSets -    (one object per set)
"""
import json
import sys

from sickle import Sickle
from sickle.oaiexceptions import NoRecordsMatch


def main():
    base, verb, prefix, *rest = sys.argv[1:]
    args = {} if verb == "ListSets" else {"metadataPrefix": prefix}
    for r in rest:
        k, v = r.split("=", 1)
        args[k] = v
    sickle = Sickle(base, max_retries=0)
    out = []
    try:
        if verb == "ListRecords":
            for rec in sickle.ListRecords(ignore_deleted=False, **args):
                h = rec.header
                item = {
                    "identifier": h.identifier,
                    "datestamp": h.datestamp,
                    "deleted": h.deleted,
                    "sets": h.setSpecs,
                }
                if not h.deleted:
                    item["metadata"] = rec.metadata
                out.append(item)
        elif verb == "ListIdentifiers":
            for h in sickle.ListIdentifiers(ignore_deleted=False, **args):
                out.append(
                    {
                        "identifier": h.identifier,
                        "datestamp": h.datestamp,
                        "deleted": h.deleted,
                        "sets": h.setSpecs,
                    }
                )
        elif verb == "ListSets":
            for s in sickle.ListSets():
                out.append({"setSpec": s.setSpec, "setName": s.setName})
        else:
            raise SystemExit(f"unknown verb {verb}")
    except NoRecordsMatch:
        pass
    print(json.dumps(out))


if __name__ == "__main__":
    main()
