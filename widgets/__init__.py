"""The Streamlit workspace: a client of the Clarion API like any product app.

Pure modules (``client`` for the HTTP API, ``charts`` for Altair, ``agreement``,
``comparison``, ``population``, ...) under thin file pages in ``app_pages/``. The
workspace imports nothing of ``service``: it shows the end-user widget exactly as the
API serves it, and learns methods, personas and locales from the API.
"""

from __future__ import annotations

__all__: list[str] = []
