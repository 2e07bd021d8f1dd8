"""The edges: WebSocket and HTTP in, one call through the method table, frames out."""
