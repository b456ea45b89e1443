"""socket.io transport: server setup, event models, validating base namespace, emitter."""
