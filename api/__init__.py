"""The FastAPI edge: thin routes that parse, call core, and format."""
