"""The API's routes, a Chalice blueprint per area; app.py registers them."""
