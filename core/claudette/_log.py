"""The one logger all of claudette writes to, with secrets redacted."""

from __future__ import annotations

import logging

from claudette._redact import install_log_filter

#: claudette's logger; plugins log through it (or a child that adds this filter too).
logger = logging.getLogger("claudette")
install_log_filter(logger)
