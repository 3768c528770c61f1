"""From tuned settings to production.

``settings_file`` (``settings.json``, what tuning writes), ``export`` (the config
document, the C header, the tc scripts), ``kubernetes`` (the MountainBikeQoS resource and
its CRD), ``snapshot_file`` (what the horn answers with).
"""
