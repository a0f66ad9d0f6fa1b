"""The admin REST API under /v1 (part of the edge ring).

``build_api`` (in ``softswitch.admin.api``) returns the twisted.web resource
that ``tap.py`` mounts; ``router`` holds the route table, ``schemas`` the
pydantic models that validate requests and generate /v1/openapi.json,
``handlers`` one module per resource, ``cli`` the softswitch-admin client.
"""
