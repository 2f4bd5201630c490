"""Pure functions of a results document: statistics, saturation, diagnosis, scaling models, the gate's decision.

Nothing here starts a server or times anything, and nothing imports the measuring side.
"""
