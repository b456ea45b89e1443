"""Transport layer: HTTP routes and socket.io namespaces. Parse, authorize, call a service."""
