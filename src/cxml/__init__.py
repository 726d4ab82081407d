"""cxml: customer decisions you can act on, each one explained."""

__version__ = "0.1.0"
