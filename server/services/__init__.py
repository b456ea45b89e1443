"""Services: the rules (accounts, routing, queue, conversations, handover, retention).

No HTTP or socket code here. A service opens the transaction, calls repositories, commits,
and only then hands events to the emitter.
"""
