"""Loads N datasets into a CKAN 2.12 database through CKAN's own action layer.

Run with the CKAN venv's python (bench/ckan.sh does):

    python bench/ckan_seed.py CKAN_INI organizations COUNT
    python bench/ckan_seed.py CKAN_INI datasets N PART PARTS

Every dataset goes through `package_create` (validation, `package_dict_save`,
the owner organisation's membership), exactly as the action API would write
it, with two of CKAN's own context flags: `defer_commit` (we commit every
500 datasets instead of once per dataset) and `return_id_only` (which, with
`defer_commit`, returns before the search-index document is built). No Solr
runs here, so nothing would be indexed anyway; the rows in PostgreSQL are the
ones a normal `package_create` leaves.

Dataset i is named `<topic>-<i:06d>` (topic = TOPICS[i % 12]); every
dataset is public, in one of the organisations, with 2-4 tags, 1-2
resources and two extras.
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
    ini, what = sys.argv[1], sys.argv[2]
    app = make_app(load_config(ini))

    import ckan.model as model
    from ckan.logic import get_action

    started = time.monotonic()
    with app._wsgi_app.test_request_context():
        user = get_action("get_site_user")({"ignore_auth": True}, {})["name"]
        if what == "organizations":
            count = int(sys.argv[3])
            for o in range(count):
                # return_id_only: its usual answer (organization_show) lists
                # the organisation's datasets through package_search (Solr).
                get_action("organization_create")(
                    {"user": user, "ignore_auth": True, "return_id_only": True},
                    {"name": f"institution-{o:02d}", "title": f"Institution {o}"},
                )
            # The free tags the datasets use, as package_create would create
            # them on first use: made here once, so that loaders running
            # side by side do not both insert the same new tag.
            names = {t for _, _, tags, _ in TOPICS for t in tags} | set(LANGUAGES)
            for name in sorted(names):
                if model.Tag.by_name(name) is None:
                    model.Session.add(model.Tag(name=name))
            model.repo.commit()
            print(f"created {count} organizations and {len(names)} tags")
            return
        # datasets N PART PARTS: datasets i with i % PARTS == PART, so that
        # PARTS processes can load side by side; each dataset's content
        # depends on i alone.
        count, part, parts = (int(a) for a in sys.argv[3:6])
        orgs = sorted(
            (o.name, o.id)
            for o in model.Session.query(model.Group).filter_by(is_organization=True)
        )
        orgs = [o_id for _, o_id in orgs]
        done = 0
        for i in range(part, count, parts):
            context = {
                "user": user,
                "ignore_auth": True,
                "defer_commit": True,
                "return_id_only": True,
            }
            get_action("package_create")(context, dataset(random.Random(i), i, orgs))
            done += 1
            if done % 500 == 0:
                model.repo.commit()
        model.repo.commit()
    seconds = time.monotonic() - started
    print(f"part {part}/{parts}: loaded {done} datasets in {seconds:.1f} s")


if __name__ == "__main__":
    main()
