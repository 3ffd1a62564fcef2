"""HTTP routes: one router per resource, each handler parses, calls the core and maps."""
