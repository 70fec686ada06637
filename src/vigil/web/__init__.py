"""The command center's web back end: REST API (``vigil.web.api``), pages, WebSocket, metrics.

Build the application with :func:`vigil.web.app.create_app`; nothing is created at import time.

Layout (imports point one way: app -> routes -> deps -> state -> services):

* ``app``: builds the services once (:class:`~vigil.web.state.WebState`), the middleware and the
  routers;
* ``api/*``, ``pages``, ``ws``, ``report_routes``: thin routes; each parses, calls ONE service
  method and shapes the answer. Services and the caller arrive as ``Annotated`` parameters
  (``reviews: Reviews, user: Reviewer``) from ``deps``, the only module that reads ``app.state``;
* ``errors``: every domain error mapped to HTTP, in one place.

Nothing here imports ``vigil.db`` or ``vigil.repositories``: database work belongs to services.
"""
