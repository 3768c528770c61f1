"""The real kernel side: BCC compilation, TC attachment, the controller, the namespace pair (rig).

Nothing here is imported by the simulator; every entry point checks for root and a usable
``bcc`` first and says in one line what is missing.
"""
