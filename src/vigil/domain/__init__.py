"""Domain vocabulary shared by every layer: enums and events, free of the database and the web.

Nothing here imports SQLAlchemy, FastAPI, the pipeline or the cipher; the ORM (``vigil.db``) and
the API schemas (``vigil.web``) import these types, never the other way round.
"""
