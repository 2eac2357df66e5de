"""The domain: plain classes and errors. Imports nothing outside the standard library."""
