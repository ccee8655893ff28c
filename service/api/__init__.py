"""HTTP and WebSocket routes, thin: they parse, call `service.scoring`, and shape the response."""
