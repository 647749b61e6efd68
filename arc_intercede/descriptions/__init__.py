"""Job descriptions people already have — xRSL and ADL — read as ARC 7's client reads them.

:func:`parse_description` recognises the language by content; :mod:`.prepare` turns the jobs into
what A-REX is sent, :mod:`.matchmaking` checks them against a CE's GLUE2 information.
:mod:`.yaml_jobspec` reads the command line's YAML job files into a ``SubmissionSpec``, and
:mod:`.spec_xrsl` renders a ``SubmissionSpec`` as the xRSL the backend sends.
"""
