"""Physics workflows that use the inference service (needs the ``workflow`` extra)."""
