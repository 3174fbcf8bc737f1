"""The managers: python-socketio's manager class plus one flavour.

``base`` holds what every manager shares (the local room state, counters,
``emit``'s first half, the flavour it is given); ``async_base`` and
``sync_base`` add python-socketio's asyncio and synchronous API and the
cross-server API; ``local_side`` is the manager as the engine sees it.
"""
