"""Loads N datasets into a CKAN 2.12 database through CKAN's own action layer.

Run with the CKAN venv's python (bench/ckan.sh does):

    python bench/ckan_seed.py CKAN_INI N [ORGANIZATIONS]

Every dataset goes through `package_create` (validation, `package_dict_save`,
the owner organisation's membership), exactly as the action API would write
it, with two of CKAN's own context flags: `defer_commit` (we commit every
500 datasets instead of once per dataset) and `return_id_only` (which, with
`defer_commit`, returns before the search-index document is built). No Solr
runs here, so nothing would be indexed anyway; the rows in PostgreSQL are the
ones a normal `package_create` leaves.

Prints one line `example dataset: NAME` (a public dataset with tags and
resources, what the benchmark reads) and the time the load took.
"""

import random
import sys
import time

from ckan.cli import load_config
from ckan.config.middleware import make_app

TOPICS = [
    ("speech", "Speech corpus", ["speech", "asr", "low-resource"], [("audio.tar", "TAR"), ("transcripts.csv", "CSV")]),
    ("translation", "Parallel text", ["translation", "nlp"], [("pairs.tsv", "TSV")]),
    ("ner", "Named entities", ["ner", "nlp", "information-extraction"], [("train.conll", "TXT"), ("test.conll", "TXT")]),
    ("sentiment", "Sentiment of posts", ["sentiment", "nlp", "social-media"], [("posts.csv", "CSV")]),
    ("crops", "Crop disease images", ["agriculture", "computer-vision", "food-security"], [("images.zip", "ZIP"), ("labels.csv", "CSV")]),
    ("malaria", "Malaria microscopy", ["health", "computer-vision", "microscopy"], [("slides.zip", "ZIP")]),
    ("maternal", "Maternal health visits", ["health", "maternal-health", "tabular"], [("visits.parquet", "Parquet")]),
    ("rainfall", "Rainfall and river levels", ["climate", "hydrology", "time-series"], [("stations.csv", "CSV"), ("readings.parquet", "Parquet")]),
    ("landcover", "Land cover tiles", ["remote-sensing", "climate", "computer-vision"], [("tiles.tar", "TAR"), ("classes.json", "JSON")]),
    ("loans", "Microfinance loans", ["finance", "fairness", "tabular"], [("loans.parquet", "Parquet")]),
    ("claims", "Fact-checked claims", ["nlp", "media", "fact-checking"], [("claims.jsonl", "JSON")]),
    ("air", "Air quality sensors", ["environment", "sensors", "time-series"], [("sensors.csv", "CSV"), ("readings.parquet", "Parquet")]),
]
LANGUAGES = ["sw", "yo", "ha", "am", "zu", "qu", "es", "fr", "en", "hi", "bn", "id"]
COUNTRIES = ["KE", "TZ", "NG", "ET", "ZA", "PE", "BO", "SN", "GH", "IN", "BD", "ID"]
LICENSES = ["cc-by", "cc-by-sa", "cc-zero", "odc-by", "odc-odbl", "other-open"]
PLACES = ["Nairobi", "Arusha", "Ibadan", "Kano", "Addis Ababa", "Durban", "Cusco", "La Paz", "Dakar", "Kumasi", "Pune", "Dhaka"]


def dataset(rng: random.Random, i: int, orgs: list) -> dict:
    key, title, tags, files = TOPICS[i % len(TOPICS)]
    place = rng.choice(PLACES)
    lang = rng.choice(LANGUAGES)
    year = 2015 + rng.randrange(11)
    chosen = rng.sample(tags, rng.randint(1, len(tags))) + [lang]
    return {
        "name": f"{key}-{i:06d}",
        "title": f"{title}, {place} {year}",
        "notes": (
            f"{title} collected around {place} in {year} by a team of "
            f"{rng.randint(3, 40)} people. It holds {rng.randint(1_000, 900_000):,} "
            f"records in {lang}, checked by two reviewers. "
            "Use it for research and teaching; cite the collecting institution."
        ),
        "owner_org": rng.choice(orgs),
        "license_id": rng.choice(LICENSES),
        "author": f"Data team {i % 97}",
        "maintainer": f"Curator {i % 53}",
        "version": f"1.{rng.randrange(10)}",
        "tags": [{"name": t} for t in chosen],
        "extras": [
            {"key": "language", "value": lang},
            {"key": "country", "value": rng.choice(COUNTRIES)},
        ],
        "resources": [
            {
                "name": file,
                "url": f"https://data.example.org/{key}/{i}/{file}",
                "format": fmt,
                "description": f"{file} of {title.lower()}",
                "size": rng.randint(10_000, 5_000_000_000),
            }
            for file, fmt in files
        ],
    }


def main() -> None:
    ini, count = sys.argv[1], int(sys.argv[2])
    organizations = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    app = make_app(load_config(ini))

    import ckan.model as model
    from ckan.logic import get_action

    flask_app = app._wsgi_app
    started = time.monotonic()
    with flask_app.test_request_context():
        site_user = get_action("get_site_user")({"ignore_auth": True}, {})
        user = site_user["name"]
        orgs = []
        for o in range(organizations):
            # return_id_only: its usual answer (organization_show) lists
            # the organisation's datasets through package_search (Solr).
            org_id = get_action("organization_create")(
                {"user": user, "ignore_auth": True, "return_id_only": True},
                {"name": f"institution-{o:02d}", "title": f"Institution {o}"},
            )
            orgs.append(org_id)
        rng = random.Random(15)
        example = None
        for i in range(count):
            context = {
                "user": user,
                "ignore_auth": True,
                "defer_commit": True,
                "return_id_only": True,
            }
            data = dataset(rng, i, orgs)
            get_action("package_create")(context, data)
            if i == count // 2:
                example = data["name"]
            if (i + 1) % 500 == 0:
                model.repo.commit()
                if (i + 1) % 2000 == 0:
                    print(f"  {i + 1} datasets", file=sys.stderr, flush=True)
        model.repo.commit()
    seconds = time.monotonic() - started
    print(f"loaded {count} datasets in {organizations} organizations in {seconds:.1f} s")
    print(f"example dataset: {example}")


if __name__ == "__main__":
    main()
