"""HTTP routes, one module per resource; :func:`serving.app.create_app` mounts them."""
