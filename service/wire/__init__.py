"""The edge: the v1 wire schemas, and the one mapping between them and domain results.

Only the faces (``service.api``, ``service.cli``) and the audit recorder's document
builder use this package; the engine and everything below it speak domain types."""
