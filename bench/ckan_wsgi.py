"""WSGI entry point for CKAN under gunicorn (bench/ckan.sh): the ini file is
named by CKAN_INI. CKAN's config loader applies the ini's [loggers] sections
(root at WARNING), as in CKAN's own deployment entry point."""

import os

from ckan.cli import load_config
from ckan.config.middleware import make_app

application = make_app(load_config(os.environ["CKAN_INI"]))
