"""Validates OAI-PMH responses with lxml against the OAI-PMH 2.0 and oai_dc
XML Schemas, as published packages ship them (nothing here is written by
hand; see docs/standards/oai.md, "Validation"):

- OAI-PMH.xsd from the sdist of pyoai 2.5.0 (PyPI), src/oaipmh/tests/.
  That copy is the official schema with one documented change: its history
  (pyoai commit c32adf4, 2005: "modify the schema so it doesn't do strict
  checking on metadata payload. This means that we're not using the official
  schema anymore") turned the three wildcards (metadata, about, description)
  from processContents="strict" to "skip". They are set back to "strict"
  here, after checking that exactly those three differ, so the schema used
  is the official one;
- oai_dc.xsd and simpledc20021212.xsd (which oai_dc.xsd imports) from the
  sdist of core_oaipmh_provider_app 2.23.0 (PyPI, NIST), static/.../xsd/;
- xml.xsd (the xml: namespace, imported by simpledc) from xmlschema (PyPI).

The oai_dc schema is imported into the OAI-PMH schema (the import element is
added in memory), so the strict metadata wildcard validates every oai_dc
record. No registry ships the DataCite kernel-4 or the oai-identifier
schemas: a response that carries elements of those namespaces is validated
with the wildcards as pyoai ships them ("skip": the envelope, headers and
tokens are still checked, the DataCite payload is not) and reported as such.

usage: validate.py SDIST_DIR FILE...
prints JSON: {"strict": [...], "lax": [...], "errors": {file: [message...]}}
"""
import glob
import json
import os
import sys
import tarfile
from importlib import resources

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
UNVALIDATED = {
    "http://datacite.org/schema/kernel-4": "DataCite kernel-4",
    "http://www.openarchives.org/OAI/2.0/oai-identifier": "oai-identifier",
}


def from_sdist(folder, pattern, suffix):
    matches = glob.glob(os.path.join(folder, pattern))
    if len(matches) != 1:
        raise SystemExit(f"expected one {pattern} in {folder}, found {matches}")
    with tarfile.open(matches[0]) as tar:
        names = [m for m in tar.getnames() if m.endswith(suffix)]
        if len(names) != 1:
            raise SystemExit(f"expected one {suffix} in {matches[0]}, found {names}")
        return tar.extractfile(names[0]).read()


class Local(etree.Resolver):
    """Every schema location resolves to a file read above (by its name);
    the network is never used."""

    def __init__(self, files):
        super().__init__()
        self.files = files

    def resolve(self, url, public_id, context):
        name = url.rsplit("/", 1)[-1]
        if name in self.files:
            return self.resolve_string(self.files[name], context)
        raise SystemExit(f"a schema asks for {url}, which no package here ships")


def main():
    sdists, *files = sys.argv[1:]
    oai_pmh = from_sdist(sdists, "pyoai-2.5.0.tar.gz", "src/oaipmh/tests/OAI-PMH.xsd")
    local = {
        "oai_dc.xsd": from_sdist(
            sdists, "core_oaipmh_provider_app-2.23.0.tar.gz", "xsd/oai_dc.xsd"
        ),
        "simpledc20021212.xsd": from_sdist(
            sdists,
            "core_oaipmh_provider_app-2.23.0.tar.gz",
            "xsd/simpledc20021212.xsd",
        ),
        "xml.xsd": (resources.files("xmlschema") / "schemas" / "XML" / "xml.xsd").read_bytes(),
    }
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(Local(local))

    # As pyoai ships it: the three wildcards skip their content.
    lax_tree = etree.fromstring(oai_pmh, parser)
    wildcards = lax_tree.findall(f".//{{{XS}}}any")
    if len(wildcards) != 3 or any(w.get("processContents") != "skip" for w in wildcards):
        raise SystemExit("pyoai's OAI-PMH.xsd is not the copy this script knows")
    lax = etree.XMLSchema(lax_tree)

    # The official schema: the wildcards strict again, oai_dc imported.
    strict_tree = etree.fromstring(oai_pmh, parser)
    for w in strict_tree.findall(f".//{{{XS}}}any"):
        w.set("processContents", "strict")
    imp = etree.Element(f"{{{XS}}}import")
    imp.set("namespace", OAI_DC)
    imp.set("schemaLocation", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd")
    strict_tree.insert(0, imp)
    strict = etree.XMLSchema(strict_tree)

    report = {"strict": [], "lax": [], "errors": {}}
    for path in files:
        with open(path, "rb") as f:
            doc = etree.fromstring(f.read(), etree.XMLParser(no_network=True))
        namespaces = {el.tag.split("}")[0][1:] for el in doc.iter() if isinstance(el.tag, str) and el.tag.startswith("{")}
        unvalidated = sorted(UNVALIDATED[n] for n in namespaces if n in UNVALIDATED)
        schema = lax if unvalidated else strict
        (report["lax"] if unvalidated else report["strict"]).append(os.path.basename(path))
        if doc.tag != f"{{{OAI}}}OAI-PMH":
            report["errors"][path] = [f"the root is {doc.tag}"]
        elif not schema.validate(doc):
            report["errors"][path] = [
                f"line {e.line}: {e.message}" for e in schema.error_log
            ]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
