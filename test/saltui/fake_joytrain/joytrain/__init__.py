"""Test stand-in for joytrain (see ../README.md); not the real package."""
STAND_IN = True
