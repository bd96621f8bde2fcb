"""The HTTP surface: FastAPI app, versioned under /v1."""
