"""One suite for the fast path, run against both implementations.

``py`` is the pure-Python twin ``socketio_redis_adapter._fastpath_py`` and
``c`` the compiled ``socketio_redis_adapter._fastpath``.  When the compiled
module is missing, the ``c`` tests fail, unless
``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS`` is set: then they are not generated.
"""
