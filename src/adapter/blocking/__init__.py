"""What a synchronous server needs around the shared engine: its background tasks,
clock and broadcast publisher (the engine's coroutines run to completion,
:mod:`..completion`)."""
