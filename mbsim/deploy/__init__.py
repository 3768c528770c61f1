"""From tuned settings to production.

``export`` (the config document, the C header, the tc scripts), ``bpf_object`` (the
standalone object for ``tc``), ``tc_scripts`` and ``kubernetes`` (the MountainBikeQoS
resource and its CRD). The files they read (``settings.json``, the snapshot) are in
:mod:`mbsim.formats`.
"""
