"""Request and response models of the admin API, one module per resource.

The same models validate requests and generate /v1/openapi.json.
"""
