"""Face model packs behind one interface. See :mod:`vigil.models.base`."""
