"""The command center's web back end: REST API (``vigil.web.api``), pages, WebSocket, metrics.

Build the application with :func:`vigil.web.app.create_app`; nothing is created at import time.
"""
