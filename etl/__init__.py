"""The one loading pipeline: extract (read files) -> transform (pure, schema-checked) -> load."""
