"""Face-level building blocks shared by the pipeline and the services, with no I/O of their own.

:mod:`vigil.faces.quality` scores a detected face (the pipeline's quality gate and enrollment's
photo checks); :mod:`vigil.faces.gallery` holds the searchable gallery (partitioned by
authorization scope, filtered inside the search) that the services build and the pipeline's
matcher searches, over the incremental indexes of :mod:`vigil.faces.index`. None of them
knows the database or the cipher.
"""
