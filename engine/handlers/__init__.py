"""Built-in handlers, imported lazily through the registry."""
