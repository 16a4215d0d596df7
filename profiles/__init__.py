"""The shipped scenario profiles, as package data: one ``<name>.yaml`` per profile.

Read them through :mod:`loadtests.catalog` (``importlib.resources``), never by a path next to the
source: an installed wheel has no checkout around it.
"""
