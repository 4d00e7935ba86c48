"""Adapters that read official rates and market prices from the outside world."""
