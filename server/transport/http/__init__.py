"""HTTP transport: middlewares, routes, views."""
