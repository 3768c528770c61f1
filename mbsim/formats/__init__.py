"""File and wire formats that one stage writes and a later one reads.

``settings_file`` (``settings.json``: what tuning writes, export and apply read),
``snapshot_file`` (what the horn answers with) and ``wire`` (the request and answer
layout on the wire, shared by the kernel program, the testbed and the snapshot). They sit
below every stage that uses them, so no stage imports a later one to read its output.
"""
