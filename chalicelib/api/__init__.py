"""The HTTP edge: routes (Chalice blueprints), request and response models, OpenAPI,
the documentation page, the console and member page, widget tokens."""
