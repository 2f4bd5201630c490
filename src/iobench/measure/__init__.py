"""The measuring side: the plan, the server, workloads and executors, the sweep, and the client subprocess.

Kept free of imports here: the client subprocess loads single modules of this package under interpreters
that have nothing but the standard library and requests.
"""
