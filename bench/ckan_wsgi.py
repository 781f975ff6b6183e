"""WSGI entry point for CKAN under gunicorn (bench/ckan.sh): the ini file is
named by CKAN_INI. Logging is configured from the ini's [loggers] sections
(WARNING and above), as CKAN's own deployment entry point does."""

import os
from logging.config import fileConfig

from ckan.cli import load_config
from ckan.config.middleware import make_app

_ini = os.environ["CKAN_INI"]
fileConfig(_ini, disable_existing_loggers=False)
application = make_app(load_config(_ini))
