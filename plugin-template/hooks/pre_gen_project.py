"""Refuse a provider name that cannot be a Python module and an entry-point name."""

import re
import sys

PLUGIN_NAME = "{{ cookiecutter.__plugin_name }}"
CLASS_NAME = "{{ cookiecutter.class_name }}"

if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", PLUGIN_NAME):
    sys.exit(
        f"ERROR: provider name {PLUGIN_NAME!r} must be letters and digits, words separated "
        "by '-', '_' or spaces, starting with a letter (e.g. 'acme' or 'acme-cloud')."
    )
if not CLASS_NAME.isidentifier():
    sys.exit(f"ERROR: class name {CLASS_NAME!r} is not a Python identifier.")
