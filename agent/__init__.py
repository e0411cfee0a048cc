"""fivewhys: root cause for production incidents, with the evidence shown."""

__version__ = "0.1.0"     # the one place the version lives: pyproject reads it, --version and MCP show it
