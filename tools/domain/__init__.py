"""The domain's bottom layer: the incident format (reader and writer), the evidence ledger, the taxonomy of
root-cause kinds, redaction and safe cutting, errors. It imports nothing else of the project, so every other
layer (tools, backends, models, surfaces, evals) can build on it."""
