"""The per-camera pipeline: detect -> track -> quality gate -> embed -> match -> candidate alert.

It knows neither the database nor the cipher: the runtime hands it a gallery source
(``snapshot()``), a counts sink (``write(camera, minute, counts)``) and an alert sink.
"""
