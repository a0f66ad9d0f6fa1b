"""The admin HTTP listener: site, root resource and the guard at its door."""
