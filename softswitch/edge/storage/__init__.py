"""Database and DNS work for services: bindings, call records, the routing
snapshot and gateway resolution."""
